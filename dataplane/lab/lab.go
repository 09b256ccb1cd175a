package lab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/nstest"
)

// HairpinAddr is the source the balancer gives hairpin flows. It must not
// be an address of the node (the node would drop packets "from itself" as
// martians) and backends must route it to the node (here: default route).
var HairpinAddr = netip.MustParseAddr("169.254.77.1")

// Lab is the testbed.
type Lab struct {
	Topo     *nstest.Topo
	Client   *nstest.NS
	Node     *nstest.NS
	Backends []*nstest.NS
	Addrs    []netip.Addr // backend addresses, Addrs[i] is backend i+1
	Ifaces   []string     // node interfaces the balancer attaches to
	closers  []io.Closer
}

// New builds the namespaces and starts the backend servers. Everything is
// registered with c for removal.
func New(c *nstest.Cleaner, backends int) (*Lab, error) {
	tp := nstest.NewWithCleaner(c)
	l := &Lab{Topo: tp}
	c.Add(func() {
		for _, x := range l.closers {
			x.Close()
		}
	})
	var err error
	if l.Client, err = tp.NS("cli"); err != nil {
		return nil, err
	}
	if l.Node, err = tp.NS("node"); err != nil {
		return nil, err
	}
	if err := tp.Veth(l.Client, "eth0", "10.1.0.2/24", l.Node, "c0", "10.1.0.1/24"); err != nil {
		return nil, err
	}
	if _, err := l.Client.Run("ip", "route", "add", "default", "via", "10.1.0.1"); err != nil {
		return nil, err
	}
	l.Ifaces = []string{"c0"}
	for i := 1; i <= backends; i++ {
		b, err := tp.NS(fmt.Sprintf("be%d", i))
		if err != nil {
			return nil, err
		}
		ifn := fmt.Sprintf("b%d", i)
		if err := tp.Veth(b, "eth0", fmt.Sprintf("10.2.%d.2/24", i), l.Node, ifn, fmt.Sprintf("10.2.%d.1/24", i)); err != nil {
			return nil, err
		}
		if _, err := b.Run("ip", "route", "add", "default", "via", fmt.Sprintf("10.2.%d.1", i)); err != nil {
			return nil, err
		}
		l.Backends = append(l.Backends, b)
		l.Addrs = append(l.Addrs, netip.MustParseAddr(fmt.Sprintf("10.2.%d.2", i)))
		l.Ifaces = append(l.Ifaces, ifn)
		if err := l.serve(b, fmt.Sprintf("be%d", i)); err != nil {
			return nil, err
		}
	}
	if _, err := l.Node.Run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0"); err != nil {
		return nil, err
	}
	return l, nil
}

// serve starts the TCP and UDP servers of one backend inside its namespace.
func (l *Lab) serve(b *nstest.NS, name string) error {
	var ln net.Listener
	var pc net.PacketConn
	err := b.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", ":8080"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", ":8080")
		return err
	})
	if err != nil {
		return fmt.Errorf("start servers in %s: %w", b.Name, err)
	}
	l.closers = append(l.closers, ln, pc)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, name+"\n"); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), from)
		}
	}()
	return nil
}

// Open loads and attaches the dataplane inside the node namespace; opts'
// Node, Ifaces and HairpinAddr default to the lab's.
func (l *Lab) Open(opts loader.Options) (*loader.Dataplane, error) {
	if opts.Node == "" {
		opts.Node = l.Topo.Prefix
	}
	if opts.Ifaces == nil {
		opts.Ifaces = l.Ifaces
	}
	if !opts.HairpinAddr.IsValid() {
		opts.HairpinAddr = HairpinAddr
	}
	var dp *loader.Dataplane
	err := l.Node.Do(func() (err error) {
		dp, err = loader.Open(opts)
		return err
	})
	return dp, err
}

// Service is a service on vip:port with backends numbered from 1, port 8080.
func (l *Lab) Service(vip netip.Addr, proto services.Proto, port uint16, backends ...int) services.Service {
	s := services.Service{VIP: vip, Port: port, Protocol: proto}
	for _, i := range backends {
		s.Backends = append(s.Backends, services.Backend{Addr: l.Addrs[i-1], Port: 8080})
	}
	return s
}

// Dial opens a TCP connection from ns (nil: the client) to addr and returns
// it, a reader positioned after the greeting, and the answering backend.
func Dial(ns *nstest.NS, addr netip.AddrPort) (net.Conn, *bufio.Reader, string, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", addr.String(), 3*time.Second)
		return err
	})
	if err != nil {
		return nil, nil, "", err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, "", fmt.Errorf("read greeting: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, r, strings.TrimSpace(name), nil
}

// UDPConn is a connected UDP socket in ns.
func UDPConn(ns *nstest.NS, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.Dial("udp4", addr.String())
		return err
	})
	return c, err
}

// Ask sends one datagram on c and returns the answering backend's name.
func Ask(c net.Conn) (string, error) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("who")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
