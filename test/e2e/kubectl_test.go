package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const webManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      containers:
      - name: web
        image: skiff/testapp:v1
        ports:
        - containerPort: 8080
          name: http
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
`

// TestE2EKubectlWorkflow walks the kubectl workflow against a real
// skiff server with hollow nodes, using the kubectl on PATH unmodified.
func TestE2EKubectlWorkflow(t *testing.T) {
	requireE2E(t)
	c := startCluster(t, 3)

	// Namespace.
	if out := c.kubectl("create", "namespace", "shop"); !strings.Contains(out, "namespace/shop created") {
		t.Fatalf("create namespace: %q", out)
	}

	// apply, then apply again → unchanged.
	out := c.apply(webManifest)
	for _, want := range []string{"configmap/web-config created", "deployment.apps/web created", "service/web created"} {
		if !strings.Contains(out, want) {
			t.Fatalf("first apply: want %q in:\n%s", want, out)
		}
	}
	out = c.apply(webManifest)
	for _, want := range []string{"configmap/web-config unchanged", "deployment.apps/web unchanged", "service/web unchanged"} {
		if !strings.Contains(out, want) {
			t.Fatalf("second apply: want %q in:\n%s", want, out)
		}
	}

	// Rollout completes on hollow nodes.
	out = c.kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=90s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Fatalf("rollout status: %s", out)
	}

	// get -o wide shows pod IPs and nodes.
	out = c.kubectl("-n", "shop", "get", "pods", "-o", "wide")
	if !strings.Contains(out, "IP") || !strings.Contains(out, "NODE") || strings.Count(out, "Running") != 3 {
		t.Fatalf("get pods -o wide:\n%s", out)
	}
	out = c.kubectl("-n", "shop", "get", "svc", "web")
	for _, want := range []string{"CLUSTER-IP", "ClusterIP", "80/TCP"} {
		if !strings.Contains(out, want) {
			t.Fatalf("get svc: want %q in:\n%s", want, out)
		}
	}
	var svc struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(c.kubectl("-n", "shop", "get", "svc", "web", "-o", "json")), &svc); err != nil || !strings.HasPrefix(svc.Spec.ClusterIP, "10.") {
		t.Fatalf("service clusterIP from -o json: %q (%v)", svc.Spec.ClusterIP, err)
	}
	if out := c.kubectl("-n", "shop", "get", "deploy", "web", "-o", "yaml"); !strings.Contains(out, "kind: Deployment") {
		t.Fatalf("get -o yaml:\n%s", out)
	}

	// Endpoints follow the pods.
	c.eventually("endpoints list 3 pod IPs", 30*time.Second, func() error {
		out, err := c.kubectlErr("-n", "shop", "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		if err != nil {
			return err
		}
		if n := len(strings.Fields(out)); n != 3 {
			return errorf("endpoints have %d addresses: %q", n, out)
		}
		return nil
	})

	// describe.
	if out := c.kubectl("-n", "shop", "describe", "deployment", "web"); !strings.Contains(out, "NewReplicaSet:") {
		t.Fatalf("describe deployment:\n%s", out)
	}

	// Label and selector queries.
	c.kubectl("-n", "shop", "label", "configmap", "web-config", "team=blue")
	if out := c.kubectl("-n", "shop", "get", "cm", "-l", "team=blue", "-o", "name"); strings.TrimSpace(out) != "configmap/web-config" {
		t.Fatalf("label selector: %q", out)
	}
	if out := c.kubectl("-n", "shop", "get", "pods", "-l", "app=web,tier in (front)", "--no-headers"); strings.Count(out, "\n") != 3 {
		t.Fatalf("set-based selector:\n%s", out)
	}

	// get -w sees a change.
	watchOut := startWatch(t, c, "-n", "shop", "get", "cm", "-w")
	c.kubectl("-n", "shop", "create", "configmap", "watched", "--from-literal=a=b")
	waitForLine(t, watchOut, "watched", 20*time.Second)

	// scale and patch.
	c.kubectl("-n", "shop", "scale", "deployment/web", "--replicas=5")
	c.kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=90s")
	if out := c.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"); out != "5" {
		t.Fatalf("after scale readyReplicas=%q", out)
	}
	c.kubectl("-n", "shop", "patch", "configmap", "web-config", "-p", `{"data":{"greeting":"ahoy"}}`)
	if out := c.kubectl("-n", "shop", "get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"); out != "ahoy" {
		t.Fatalf("after patch greeting=%q", out)
	}

	// New image, history, undo.
	c.kubectl("-n", "shop", "set", "image", "deployment/web", "web=skiff/testapp:v2")
	c.kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=90s")
	if out := c.kubectl("-n", "shop", "rollout", "history", "deployment/web"); !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Fatalf("rollout history:\n%s", out)
	}
	c.kubectl("-n", "shop", "rollout", "undo", "deployment/web")
	c.kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=90s")
	if out := c.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); out != "skiff/testapp:v1" {
		t.Fatalf("after undo image=%q", out)
	}

	// A bad manifest gets kubectl's usual errors.
	bad := strings.Replace(webManifest, "name: web-config", "name: Web_Config", 1)
	if out, err := c.kubectlWith("", []byte(bad), "apply", "-f", "-"); err == nil || !strings.Contains(out, `is invalid`) {
		t.Fatalf("invalid name accepted or wrong message (err=%v):\n%s", err, out)
	}
	if out, err := c.kubectlErr("-n", "shop", "get", "deployment", "nope"); err == nil || !strings.Contains(out, `Error from server (NotFound): deployments.apps "nope" not found`) {
		t.Fatalf("missing deployment: err=%v\n%s", err, out)
	}

	// Delete with cascade removes the ReplicaSets and pods.
	c.kubectl("-n", "shop", "delete", "deployment", "web")
	c.eventually("pods and replicasets garbage collected", 60*time.Second, func() error {
		out, err := c.kubectlErr("-n", "shop", "get", "rs,pods", "--no-headers")
		if err != nil {
			return err
		}
		if out = strings.TrimSpace(out); out != "" && !strings.HasPrefix(out, "No resources found") {
			return errorf("still present:\n%s", out)
		}
		return nil
	})
}

// startWatch runs a long kubectl command and returns a channel of its lines.
func startWatch(t *testing.T, c *cluster, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	bin := os.Getenv("KUBECTL")
	if bin == "" {
		bin = "kubectl"
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "KUBECACHEDIR="+filepath.Join(c.dir, "kcache"))
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(time.Second) // let the watch establish after its initial list
	return lines
}

func waitForLine(t *testing.T, lines <-chan string, substr string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended before a line with %q", substr)
			}
			if strings.Contains(l, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within %s", substr, d)
		}
	}
}
