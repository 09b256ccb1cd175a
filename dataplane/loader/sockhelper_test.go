package loader

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSockHelperProcess is the client or server the socket-level balancer
// tests run in a chosen network namespace and cgroup (SKIFF_SOCK_HELPER:
// serve-tcp, serve-udp, tcp, udp, udpconn; SKIFF_SOCK_ADDR; SKIFF_SOCK_NAME
// for servers, SKIFF_SOCK_N for clients). Clients print one line per
// exchange: "<server name> <peer as the socket reports it>" or "error
// <errno name>".
func TestSockHelperProcess(t *testing.T) {
	mode := os.Getenv("SKIFF_SOCK_HELPER")
	if mode == "" {
		t.Skip("helper process of the socket-level balancer tests")
	}
	addr := os.Getenv("SKIFF_SOCK_ADDR")
	n, _ := strconv.Atoi(os.Getenv("SKIFF_SOCK_N"))
	if n == 0 {
		n = 1
	}
	var err error
	switch mode {
	case "serve-tcp":
		err = serveTCP(addr, os.Getenv("SKIFF_SOCK_NAME"))
	case "serve-udp":
		err = serveUDP(addr, os.Getenv("SKIFF_SOCK_NAME"))
	case "tcp":
		for i := 0; i < n; i++ {
			fmt.Println(tcpOnce(addr))
		}
	case "udp":
		err = udpUnconnected(addr, n)
	case "udpconn":
		for i := 0; i < n; i++ {
			fmt.Println(udpConnected(addr))
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(2)
	}
	os.Exit(0) // skip the testing framework's output
}

func serveTCP(addr, name string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		_, _ = c.Write([]byte(name))
		c.Close()
	}
}

func serveUDP(addr, name string) error {
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 512)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		_, _ = pc.WriteTo([]byte(name), from)
	}
}

func errLine(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "error " + unix.ErrnoName(errno)
	}
	return "error " + err.Error()
}

// peerName is what getpeername(2) says about c's socket.
func peerName(c syscall.Conn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return "?"
	}
	var sa unix.Sockaddr
	var serr error
	_ = rc.Control(func(fd uintptr) { sa, serr = unix.Getpeername(int(fd)) })
	if in4, ok := sa.(*unix.SockaddrInet4); ok && serr == nil {
		return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)).String()
	}
	return "?"
}

func tcpOnce(addr string) string {
	c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
	if err != nil {
		return errLine(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	if err != nil {
		return errLine(err)
	}
	return string(buf[:k]) + " " + peerName(c.(*net.TCPConn))
}

// udpUnconnected sends n datagrams from one unconnected socket and prints
// each reply's name and source (recvfrom), then does the same from a second
// socket.
func udpUnconnected(addr string, n int) error {
	dst, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	for s := 0; s < 2; s++ {
		pc, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			fmt.Println(udpExchange(pc, dst))
		}
		pc.Close()
	}
	return nil
}

func udpExchange(pc *net.UDPConn, dst *net.UDPAddr) string {
	_ = pc.SetDeadline(time.Now().Add(2 * time.Second))
	var err error
	if dst != nil {
		_, err = pc.WriteToUDP([]byte("hi"), dst)
	} else {
		_, err = pc.Write([]byte("hi"))
	}
	if err != nil {
		return errLine(err)
	}
	buf := make([]byte, 64)
	k, from, err := pc.ReadFromUDP(buf)
	if err != nil {
		return errLine(err)
	}
	ap := from.AddrPort()
	return string(buf[:k]) + " " + netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

func udpConnected(addr string) string {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return errLine(err)
	}
	defer c.Close()
	uc := c.(*net.UDPConn)
	return udpExchange(uc, nil) + " " + peerName(uc)
}
