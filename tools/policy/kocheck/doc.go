// Package kocheck holds no code, only a test of the repository's build
// settings (.ko.yaml): what production relies on, checked where a change
// to the file is made, not on the first push.
package kocheck
