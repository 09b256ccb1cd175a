// Package nstest builds throw-away network topologies for privileged tests.
//
// In: a *testing.T (or a cleanup list for non-test harnesses such as bench).
// Out: named network namespaces, veth pairs and background processes, all
// carrying one unique prefix and all removed when the test ends, even when it
// fails. Nothing here touches the host's own namespace beyond creating the
// named netns files under /run/netns.
package nstest
