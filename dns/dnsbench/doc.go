// Command dnsbench measures Skiff's cluster DNS server with dnsperf.
//
// It takes in a service count and a duration, starts the real server
// (dns/server) on 127.0.0.1 fed by an in-memory source of that many
// synthetic services plus a local upstream for external names, runs
// Debian's dnsperf against it for cluster names and for cached external
// names, and puts out queries per second for each and the heap and RSS the
// server holds for the services. Run it through run.sh.
package main
