// Package version holds Skiff's version and the Kubernetes version it speaks.
//
// In: -ldflags -X values at build time. Out: strings for /version, logs and
// the CLI.
package version

// Skiff is overridden at build time with -ldflags "-X .../version.Skiff=...".
var Skiff = "0.1.0-dev"

// Kubernetes is the Kubernetes API version Skiff's server reports. It must
// parse as semver, or `kubectl version` exits 1.
const (
	KubeMajor  = "1"
	KubeMinor  = "33"
	Kubernetes = "v1.33.0+skiff"
)

// String is the human form printed by `skiff version`.
func String() string { return "skiff " + Skiff + " (kubernetes " + Kubernetes + ")" }
