// Package depcheck holds, in its test, the layering docs/architecture.md
// states, as go-containerregistry's depcheck does for its binaries: the
// mage targets' binary links no test code (package testing, or a stand-in
// of this repository), the services import nothing of the tools, the tools
// import only the contract of the service kit, and only the magefile
// imports the targets. It has no code of its own.
package depcheck
