// Package nodeip chooses a node's InternalIP when `skiff agent` is started
// without --node-ip.
//
// It takes the machine's interfaces with their IPv4 addresses and the
// interface of the default route (read with netlink). It puts out one
// address, chosen deliberately: global unicast addresses on interfaces that
// are up, not loopback and not made by Skiff or other container networking
// (pod veths, the node-local DNS interface, bridges, VXLAN); never a
// VirtualBox/Vagrant NAT address (10.0.2.0/24, every Vagrant VM has
// 10.0.2.15 there, unreachable from the other VMs); then the default-route
// interface's address if it is still a candidate, else the first candidate
// in interface order. Every choice is explained in the returned reason so
// the agent can log it, and no candidate is an error that asks for
// --node-ip.
package nodeip
