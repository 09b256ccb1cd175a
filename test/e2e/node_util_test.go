package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/internal/agentclean"
	"github.com/skiffnet/skiff/internal/nstest"
)

// agentNode is one `skiff agent` joined to a test cluster.
type agentNode struct {
	c        *cluster
	name     string
	dir      string
	args     []string
	cmd      *exec.Cmd
	nsPrefix string // "skiff-<node hash>-" of its pod namespaces
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// startAgentCluster runs a server and one token-joined agent (with its own
// containerd) and imports the given archives from test/images/out, building
// them first.
func startAgentCluster(t *testing.T, archives ...string) (*cluster, *agentNode) {
	t.Helper()
	requireE2E(t)
	nstest.RequirePrivileged(t)
	root := repoRoot()
	images := filepath.Join(root, "test", "images", "out")
	build := exec.Command(filepath.Join(root, "test", "images", "build.sh"))
	// The demo images (a nested module with a MySQL server) only when asked.
	build.Env = append(os.Environ(), "DEMO=0")
	for _, a := range archives {
		if a == "demo.tar" {
			build.Env = append(os.Environ(), "DEMO=1")
		}
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build test images: %v\n%s", err, out)
	}
	c := startCluster(t, 0, "--cluster-cidr", "10.251.0.0/16")
	n := &agentNode{c: c, name: nstest.UniquePrefix() + "-node", dir: filepath.Join(c.dir, "agent")}
	n.nsPrefix = agentclean.NetnsPrefix(n.name)
	t.Cleanup(func() { agentclean.Cleanup(n.dir, n.name) })
	args := []string{"image", "import", "--data-dir", n.dir}
	for _, a := range archives {
		args = append(args, filepath.Join(images, a))
	}
	if out, err := exec.Command(c.bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("import images: %v\n%s", err, out)
	}
	token, err := exec.Command(c.bin, "token", "create", "--data-dir", filepath.Join(c.dir, "server")).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	n.args = []string{c.bin, "agent", "--server", c.serverURL(), "--token", strings.TrimSpace(string(token)),
		"--node-name", n.name, "--node-ip", "127.0.0.1", "--data-dir", n.dir, "--metrics-addr", "",
		"--kubelet-port", fmt.Sprint(freePort(t)), "--pod-manifest-path", n.manifestDir()}
	n.start(t)
	return c, n
}

// manifestDir is the agent's static pod directory.
func (n *agentNode) manifestDir() string { return filepath.Join(n.dir, "manifests") }

// start runs the agent and waits for its Node to be Ready.
func (n *agentNode) start(t *testing.T) {
	t.Helper()
	n.cmd = daemon(t, n.c.dir, "agent", n.args...)
	n.c.eventually("node Ready", 60*time.Second, func() error {
		out, err := n.c.kubectlErr("get", "node", n.name, "--no-headers")
		if err != nil || !strings.Contains(out, " Ready ") {
			return errorf("node not Ready: %v %s", err, out)
		}
		return nil
	})
}

// podNetns is the network namespace of pod ns/name.
func (n *agentNode) podNetns(t *testing.T, ns, name string) string {
	t.Helper()
	uid := n.c.kubectl("-n", ns, "get", "pod", name, "-o", "jsonpath={.metadata.uid}")
	return findNetns(t, uid)
}

// ipamIPs lists the addresses the agent's IPAM has handed out.
func (n *agentNode) ipamIPs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(n.dir, "podnet", "ipam"))
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			ips = append(ips, e.Name())
		}
	}
	sort.Strings(ips)
	return ips
}

// podIPs lists the IPs of the pods bound to this node (all namespaces).
func (n *agentNode) podIPs(t *testing.T) []string {
	t.Helper()
	out := n.c.kubectl("get", "pods", "-A", "--field-selector", "spec.nodeName="+n.name, "-o", "jsonpath={.items[*].status.podIP}")
	ips := strings.Fields(out)
	sort.Strings(ips)
	return ips
}

// netnsCount counts this agent's pod network namespaces.
func (n *agentNode) netnsCount(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && n.nsPrefix != "" && strings.HasPrefix(f[0], n.nsPrefix) {
			c++
		}
	}
	return c
}

// inPod runs a command inside a pod's network namespace from the host.
func inPod(netns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", netns}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
