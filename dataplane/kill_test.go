package dataplane_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiffnet/skiff/dataplane/lab"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/vishvananda/netns"
)

// TestPrivilegedDataplaneChild is not a test of its own: the kill test
// re-executes the test binary with it to get a real dataplane process it
// can SIGKILL.
func TestPrivilegedDataplaneChild(t *testing.T) {
	nsName := os.Getenv("SKIFF_TEST_CHILD_NETNS")
	if nsName == "" {
		t.Skip("helper process for TestPrivilegedKilledProcessLeavesDatapath")
	}
	runtime.LockOSThread()
	h, err := netns.GetFromName(nsName)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	dp, err := loader.Open(loader.Options{Node: os.Getenv("SKIFF_TEST_CHILD_NODE"),
		Ifaces: strings.Split(os.Getenv("SKIFF_TEST_CHILD_IFACES"), ","), HairpinAddr: lab.HairpinAddr})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := services.NewReconciler(dp.Maps())
	if err != nil {
		t.Fatal(err)
	}
	s := services.Service{VIP: vip, Port: 80, Protocol: services.TCP}
	for _, a := range strings.Split(os.Getenv("SKIFF_TEST_CHILD_BACKENDS"), ",") {
		s.Backends = append(s.Backends, services.Backend{Addr: mustAddr(a), Port: 8080})
	}
	if err := rec.Upsert(s); err != nil {
		t.Fatal(err)
	}
	fmt.Println("CHILD-READY")
	select {} // until killed
}

func TestPrivilegedKilledProcessLeavesDatapath(t *testing.T) {
	l := newLab(t, 3)
	var addrs []string
	for _, a := range l.Addrs {
		addrs = append(addrs, a.String())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPrivilegedDataplaneChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SKIFF_TEST_CHILD_NETNS="+l.Node.Name, "SKIFF_TEST_CHILD_NODE="+l.Topo.Prefix,
		"SKIFF_TEST_CHILD_IFACES="+strings.Join(l.Ifaces, ","), "SKIFF_TEST_CHILD_BACKENDS="+strings.Join(addrs, ","))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	t.Cleanup(func() { _ = loader.RemovePins("", l.Topo.Prefix) })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "CHILD-READY") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("dataplane child exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("dataplane child not ready after 20 s")
	}

	stop := make(chan struct{})
	var rounds atomic.Int64
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		c, r, _ := dial(t, l, 80)
		wg.Add(1)
		go func() { defer wg.Done(); errs <- stream(c, r, stop, &rounds) }()
	}
	time.Sleep(200 * time.Millisecond)
	retrans := retransmits(t, l)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	mid := rounds.Load()
	time.Sleep(300 * time.Millisecond)
	if rounds.Load() <= mid {
		t.Fatal("no traffic after the dataplane process was killed")
	}
	// New connections work without the process too.
	c, _, _ := dial(t, l, 80)
	c.Close()
	// A new process re-adopts the pinned state.
	dp, rec := open(t, l, loader.Options{})
	t.Cleanup(func() { _ = dp.Remove() })
	if got := rec.Services(); len(got) != 1 || len(got[0].Backends) != 3 {
		t.Fatalf("restored services %+v", got)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("stream broken by kill/restart: %v", err)
		}
	}
	if n := retransmits(t, l) - retrans; n != 0 {
		t.Errorf("%d TCP segments retransmitted across kill and restart: packets were lost", n)
	}
}
