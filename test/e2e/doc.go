// Package e2e holds Skiff's end-to-end tests: the real skiff binary, real
// etcd, and the stock kubectl binaries installed on the machine.
//
// In: a built bin/skiff (built by the test if missing) and kubectl on PATH.
// Out: pass/fail of the kubectl workflows users run. Tests are named TestE2E*
// and skipped unless SKIFF_E2E=1; every process they start runs in its own
// session and is killed when the test ends, and all state lives in t.TempDir.
package e2e
