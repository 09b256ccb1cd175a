package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2EAgentServesClusterIP runs a one-node cluster for real: skiff server,
// skiff agent joined with a token (its own containerd), pods from the test
// images, and pod → ClusterIP traffic through the eBPF dataplane, balanced
// across all three backends. A failing readiness probe takes its pod out of
// the BPF service map.
func TestE2EAgentServesClusterIP(t *testing.T) {
	c, n := startAgentCluster(t, "testapp.tar", "shell.tar")
	node := n.name
	c.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: skiff/testapp:v1
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 1}
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
	// The node reports the kubelet's four conditions.
	if got := c.kubectl("get", "node", node, "-o", `jsonpath={range .status.conditions[*]}{.type}={.status} {end}`); strings.TrimSpace(got) !=
		"MemoryPressure=False DiskPressure=False PIDPressure=False Ready=True" {
		t.Fatalf("node conditions: %q", got)
	}
	podNS := n.podNetns(t, "default", "client")
	checkServiceAccountToken(t, c, "client")
	// The node itself reaches the ClusterIP too (socket-level balancing in
	// the cgroup v2 root, as kube-proxy users expect of `curl VIP` on a node).
	c.eventually("node -> ClusterIP", 30*time.Second, func() error {
		out, err := exec.Command("wget", "-q", "-T", "2", "-O", "-", "http://"+vip+"/hostname").CombinedOutput()
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "web-") {
			return errorf("wget from the node: %v %s", err, out)
		}
		return nil
	})

	// Every backend answers through the VIP.
	seen := map[string]int{}
	c.eventually("all 3 backends reached through the ClusterIP", 30*time.Second, func() error {
		out, err := exec.Command("ip", "netns", "exec", podNS, "wget", "-q", "-T", "2", "-O", "-", "http://"+vip+"/hostname").CombinedOutput()
		if err != nil {
			return errorf("wget %s from the client pod: %v %s", vip, err, out)
		}
		seen[strings.TrimSpace(string(out))]++
		if len(seen) < 3 {
			return errorf("backends seen so far: %v", seen)
		}
		return nil
	})

	// A failing readiness probe removes that backend from the BPF map.
	ip := c.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}")
	failing := c.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")
	if out, err := exec.Command("ip", "netns", "exec", podNS, "wget", "-q", "-O", "-", "http://"+ip+":8080/healthz/fail").CombinedOutput(); err != nil {
		t.Fatalf("switch readiness off: %v %s", err, out)
	}
	c.eventually("not-ready backend leaves the BPF service map", 10*time.Second, func() error {
		out, err := exec.Command(c.bin, "bpf", "lb", "list", "--node", node).CombinedOutput()
		if err != nil {
			return errorf("skiff bpf lb list: %v %s", err, out)
		}
		if strings.Contains(string(out), ip+":8080") {
			return errorf("%s still in the map:\n%s", ip, out)
		}
		return nil
	})
	// kubectl describe shows the kubelet's events, repeats counted in one
	// Event ("(x3 over 3s)") through PATCH.
	c.eventually("kubelet events in kubectl describe pod", 30*time.Second, func() error {
		out, err := c.kubectlErr("describe", "pod", failing)
		for _, want := range []string{`Created +\S+ +kubelet +Created container: web`, `Started +\S+ +kubelet +Started container web`,
			`Unhealthy +\S+ \(x[0-9]+ over \S+\) +kubelet +Readiness probe failed: `} {
			if err != nil || !regexp.MustCompile(want).MatchString(out) {
				return errorf("describe pod %s lacks %q: %v\n%s", failing, want, err, out)
			}
		}
		return nil
	})
	// A static pod from the manifest directory runs and shows in the API as
	// a mirror pod named after the node.
	if err := os.MkdirAll(n.manifestDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	static := `apiVersion: v1
kind: Pod
metadata: {name: static-web, namespace: default}
spec:
  containers:
  - {name: web, image: skiff/testapp:v1, imagePullPolicy: Never}
`
	if err := os.WriteFile(filepath.Join(n.manifestDir(), "static-web.yaml"), []byte(static), 0o644); err != nil {
		t.Fatal(err)
	}
	mirror := "static-web-" + node
	c.eventually("static pod running as a mirror pod", 60*time.Second, func() error {
		out, err := c.kubectlErr("get", "pod", mirror, "-o", `jsonpath={.status.phase} {.metadata.annotations.kubernetes\.io/config\.mirror}`)
		if f := strings.Fields(out); err != nil || len(f) != 2 || f[0] != "Running" {
			return errorf("mirror pod %s: %v %q", mirror, err, out)
		}
		return nil
	})
	if err := os.Remove(filepath.Join(n.manifestDir(), "static-web.yaml")); err != nil {
		t.Fatal(err)
	}
	c.eventually("mirror pod gone with its manifest", 60*time.Second, func() error {
		if out, _ := c.kubectlErr("get", "pod", mirror, "--ignore-not-found", "--no-headers"); strings.TrimSpace(out) != "" {
			return errorf("still there: %s", out)
		}
		return nil
	})
}

func findNetns(t *testing.T, uid string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(f[0], uid) {
			return f[0]
		}
	}
	t.Fatalf("no network namespace for pod uid %s:\n%s", uid, out)
	return ""

}

// checkServiceAccountToken: the kube-api-access volume the API server
// injects holds a token the kubelet got through TokenRequest, the cluster
// CA and the namespace; the token, used alone, authenticates as the pod's
// service account, which may read its namespace but not its secrets.
func checkServiceAccountToken(t *testing.T, c *cluster, pod string) {
	t.Helper()
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount/"
	tok := strings.TrimSpace(c.kubectl("exec", pod, "--", "cat", dir+"token"))
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("%stoken is not a JWT: %q", dir, tok)
	}
	if ns := c.kubectl("exec", pod, "--", "cat", dir+"namespace"); ns != "default" {
		t.Fatalf("%snamespace is %q, want default", dir, ns)
	}
	ca := c.kubectl("exec", pod, "--", "cat", dir+"ca.crt")
	if !strings.HasPrefix(ca, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("%sca.crt is not a certificate: %q", dir, ca)
	}
	caFile := filepath.Join(c.dir, "pod-ca.crt")
	if err := os.WriteFile(caFile, []byte(ca), 0o644); err != nil {
		t.Fatal(err)
	}
	asPod := func(args ...string) (string, error) {
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", os.DevNull, "--server", c.serverURL(),
			"--certificate-authority", caFile, "--token", tok}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+c.dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asPod("get", "pod", pod, "-n", "default", "-o", "name"); err != nil || strings.TrimSpace(out) != "pod/"+pod {
		t.Fatalf("the pod's own token cannot read the pod: %v %s", err, out)
	}
	if out, err := asPod("get", "secrets", "-n", "default"); err == nil || !strings.Contains(out, "Forbidden") {
		t.Fatalf("the pod's token may list secrets: %v %s", err, out)
	}
}
