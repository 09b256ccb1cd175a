package e2e

import (
	"fmt"
	"github.com/skiffnet/skiff/internal/agentclean"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// traffic requests http://vip/hostname from a pod's namespace every 100 ms
// and remembers every failure.
type traffic struct {
	mu       sync.Mutex
	ok       int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func startTraffic(netns, vip string) *traffic {
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for {
			select {
			case <-tr.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			t0 := time.Now()
			out, err := inPod(netns, "wget", "-q", "-T", "3", "-O", "-", "http://"+vip+"/hostname")
			took := time.Since(t0)
			tr.mu.Lock()
			switch {
			case err != nil:
				tr.failures = append(tr.failures, fmt.Sprintf("%s: %v %s (after %v)", t0.Format("15:04:05.000"), err, out, took.Round(time.Millisecond)))
			case took > 2*time.Second:
				tr.failures = append(tr.failures, fmt.Sprintf("%s: answered by %s only after %v", t0.Format("15:04:05.000"), out, took.Round(time.Millisecond)))
			default:
				tr.ok++
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

// check fails the test if any request failed since the last check and
// that at least one succeeded.
func (tr *traffic) check(t *testing.T, phase string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.failures) > 0 {
		t.Errorf("%s: %d requests failed (%d succeeded):\n%s", phase, len(tr.failures), tr.ok, strings.Join(tr.failures, "\n"))
	}
	if tr.ok == 0 {
		t.Errorf("%s: no request succeeded", phase)
	}
	t.Logf("%s: %d requests served, none failed", phase, tr.ok)
	tr.ok, tr.failures = 0, nil
}

func (tr *traffic) halt() { close(tr.stop); <-tr.done }

// containerdPID finds the containerd the agent in dir supervises.
func containerdPID(t *testing.T, dir string) int {
	t.Helper()
	pid := agentclean.ContainerdPID(dir)
	if pid == 0 {
		t.Fatalf("no containerd process for %s", dir)
	}
	return pid
}

// TestE2EAgentResilience kills the agent, then its containerd, then both,
// while a client pod talks to a ClusterIP: existing pods keep serving, no
// container restarts, and no IP leaks. Then scaling to 20 and back to 0
// leaves no namespace, veth or address behind.
func TestE2EAgentResilience(t *testing.T) {
	c, n := startAgentCluster(t, "testapp.tar", "shell.tar")
	c.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: skiff/testapp:v1
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: skiff/shell:v1, command: ["sh", "-c", "sleep 100000"]}
`)
	c.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
	c.kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	vip := c.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
	clientNS := n.podNetns(t, "default", "client")
	c.eventually("ClusterIP answers", 30*time.Second, func() error {
		_, err := inPod(clientNS, "wget", "-q", "-T", "2", "-O", "-", "http://"+vip+"/hostname")
		return err
	})
	restarts := func() string {
		return c.kubectl("get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount}/{.status.podIP} {end}")
	}
	before := restarts()

	stats := func(phase string) {
		out, _ := exec.Command(c.bin, "bpf", "stats", "--node", n.name).CombinedOutput()
		t.Logf("BPF counters %s:\n%s", phase, out)
	}
	tr := startTraffic(clientNS, vip)
	halted := false
	defer func() {
		if !halted {
			tr.halt()
		}
	}()
	time.Sleep(time.Second)
	tr.check(t, "before any kill")

	// 1. The agent dies: its pinned BPF state and the containers live on.
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	time.Sleep(3 * time.Second)
	tr.check(t, "agent killed")
	stats("before the agent restart")
	n.start(t)
	time.Sleep(3 * time.Second)
	stats("after the agent restart")
	tr.check(t, "agent restarted")

	// 2. containerd dies: the agent starts it again; containers keep running.
	_ = syscall.Kill(containerdPID(t, n.dir), syscall.SIGKILL)
	time.Sleep(5 * time.Second)
	tr.check(t, "containerd killed and restarted by the agent")

	// 3. Both die; the agent comes back and adopts everything.
	ctrd := containerdPID(t, n.dir)
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(ctrd, syscall.SIGKILL)
	time.Sleep(3 * time.Second)
	tr.check(t, "agent and containerd killed")
	n.start(t)
	time.Sleep(5 * time.Second)
	tr.check(t, "agent and containerd back")
	tr.halt()
	halted = true

	if after := restarts(); after != before {
		t.Errorf("pods restarted or changed address across the kills:\nbefore %s\nafter  %s", before, after)
	}
	if ipam, pods := n.ipamIPs(t), n.podIPs(t); strings.Join(ipam, ",") != strings.Join(pods, ",") {
		t.Errorf("IP leak: IPAM holds %v, running pods have %v", ipam, pods)
	}

	// 4. Scale to 20 and back to 0: nothing of the 20 pods stays behind.
	c.kubectl("scale", "deployment/web", "--replicas=20")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=180s")
	if got := n.netnsCount(t); got != 21 {
		t.Errorf("with 20 web pods and the client: %d pod network namespaces", got)
	}
	c.kubectl("scale", "deployment/web", "--replicas=0")
	c.eventually("web pods gone", 90*time.Second, func() error {
		if out := c.kubectl("get", "pods", "-l", "app=web", "--no-headers", "--ignore-not-found"); out != "" {
			return errorf("pods left:\n%s", out)
		}
		return nil
	})
	c.eventually("nothing left of the web pods", 30*time.Second, func() error {
		if got := n.netnsCount(t); got != 1 {
			return errorf("%d pod network namespaces (want only the client's)", got)
		}
		if ipam, pods := n.ipamIPs(t), n.podIPs(t); len(ipam) != 1 || strings.Join(ipam, ",") != strings.Join(pods, ",") {
			return errorf("IPAM holds %v, pods have %v", ipam, pods)
		}
		links, err := listHostVeths()
		if err != nil {
			return err
		}
		if links != 1 {
			return errorf("%d pod veths on the host (want 1, the client's)", links)
		}
		return nil
	})
}

// listHostVeths counts the pod veths ("skp…") in the host namespace.
func listHostVeths() (int, error) {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "skp") {
			n++
		}
	}
	return n, nil
}
