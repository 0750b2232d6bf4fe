// Package leaktest holds no code, only a test: it runs the real mage
// targets (doctor, publish, bump, verify) as subprocesses, on their error
// and success paths, with sentinel values in every secret, and fails if a
// sentinel, or its base64 form, appears in what they print. It runs the
// magefile as a user does, so it catches a secret printed by any layer:
// the magefile, a package, go-github, go-containerregistry or ko.
package leaktest
