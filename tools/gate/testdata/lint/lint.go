// Package lint holds what staticcheck must find: the gate's test of the
// repository's staticcheck.conf runs staticcheck here.
package lint

// GetUrl breaks ST1003, a check staticcheck leaves off unless its config
// turns it on.
func GetUrl() string { return "http://127.0.0.1/" }

// unused is never called: U1000.
func unused() {}
