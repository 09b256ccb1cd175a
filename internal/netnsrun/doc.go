// Package netnsrun runs a function inside another network namespace
// without leaking that namespace to other goroutines.
//
// In: a target namespace (a handle, or a path such as /run/netns/x) and a
// function. Out: the function's error, after it ran on a fresh goroutine
// whose OS thread was locked, switched into the target and switched back
// before being unlocked. If switching back fails the thread stays locked
// and ends with its goroutine, so no other goroutine ever runs in the
// wrong namespace (the main thread, which Go cannot end, is parked).
package netnsrun
