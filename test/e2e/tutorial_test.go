package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ETutorial runs docs/TUTORIAL.md on a one-node cluster with the stock
// kubectl: a blog and its MySQL database in namespace demo, found by name
// through the node-local cluster DNS; exec, logs, cp and port-forward; scale,
// roll out and roll back.
func TestE2ETutorial(t *testing.T) {
	c, _ := startAgentCluster(t, "testapp.tar", "shell.tar", "demo.tar")
	docs := filepath.Join(repoRoot(), "docs", "tutorial")
	k := func(args ...string) string { t.Helper(); return c.kubectl(append([]string{"-n", "demo"}, args...)...) }

	// 1. A namespace.
	c.kubectl("create", "namespace", "demo")

	// 2. The database and the web app, with a ConfigMap and a Secret.
	k("create", "secret", "generic", "mysql-pass", "--from-literal=password=s3cret")
	for _, f := range []string{"config.yaml", "mysql.yaml", "blog.yaml"} {
		k("apply", "-f", filepath.Join(docs, f))
	}
	k("rollout", "status", "deployment/mysql", "--timeout=120s")
	k("rollout", "status", "deployment/blog", "--timeout=120s")
	if out := k("get", "pods", "-o", "wide"); strings.Count(out, "Running") != 3 {
		t.Fatalf("want 3 running pods:\n%s", out)
	}

	// 3. The web pods reach the database by name (they are only Ready once
	// /healthz pinged it); a client pod reaches the web app by name through
	// the search path, stores a post and reads it back.
	if out := k("exec", "deploy/blog", "--", "/blog", "dbcheck"); !strings.Contains(out, "mysql") {
		t.Fatalf("blog dbcheck: %s", out)
	}
	k("run", "client", "--image=skiff/shell:v1", "--restart=Never", "--", "sleep", "3600")
	k("wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	k("exec", "client", "--", "wget", "-qO-", "--post-data", "title=Hello&body=First post", "http://blog/posts")
	for _, name := range []string{"blog", "blog.demo", "blog.demo.svc.cluster.local"} {
		if out := k("exec", "client", "--", "wget", "-qO-", "http://"+name+"/api/posts"); !strings.Contains(out, "Hello") {
			t.Fatalf("GET http://%s/api/posts: %s", name, out)
		}
	}
	mysqlIP := k("get", "svc", "mysql", "-o", "jsonpath={.spec.clusterIP}")
	if out := k("exec", "client", "--", "nslookup", "mysql.demo.svc.cluster.local"); !strings.Contains(out, mysqlIP) {
		t.Fatalf("nslookup mysql from a pod: want %s in\n%s", mysqlIP, out)
	}
	if out := k("logs", "deploy/blog"); out == "" {
		t.Fatal("kubectl logs deploy/blog printed nothing")
	}

	// exec -it with a real terminal, cp and port-forward.
	script := exec.Command("script", "-qec", fmt.Sprintf("kubectl --kubeconfig %s -n demo exec -it client -- tty", c.kubeconfig), "/dev/null")
	script.Env = append(os.Environ(), "HOME="+c.dir)
	if out, err := script.CombinedOutput(); err != nil || !strings.Contains(string(out), "/dev/pts/") {
		t.Fatalf("kubectl exec -it client -- tty: %v\n%s", err, out)
	}
	local := filepath.Join(c.dir, "hostname.txt")
	k("cp", "client:/etc/hostname", local)
	if b, err := os.ReadFile(local); err != nil || strings.TrimSpace(string(b)) != "client" {
		t.Fatalf("kubectl cp client:/etc/hostname: %q %v", b, err)
	}
	checkPortForward(t, c)

	// 4. Scale.
	k("scale", "deployment/blog", "--replicas=4")
	k("rollout", "status", "deployment/blog", "--timeout=120s")
	c.eventually("4 blog endpoints", 30*time.Second, func() error {
		out := k("get", "endpointslices", "-l", "kubernetes.io/service-name=blog", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
		if n := len(strings.Fields(out)); n != 4 {
			return errorf("%d endpoints: %s", n, out)
		}
		return nil
	})

	// 5. Roll out a new version; 6. roll back.
	version := func() string {
		return strings.TrimSpace(k("exec", "client", "--", "wget", "-qO-", "http://blog/version"))
	}
	k("set", "image", "deployment/blog", "blog=skiff/blog:v2")
	k("rollout", "status", "deployment/blog", "--timeout=180s")
	if v := version(); v != "v2" {
		t.Fatalf("after the rollout /version = %q, want v2", v)
	}
	if out := k("rollout", "history", "deployment/blog"); !strings.Contains(out, "2 ") {
		t.Fatalf("rollout history:\n%s", out)
	}
	k("rollout", "undo", "deployment/blog")
	k("rollout", "status", "deployment/blog", "--timeout=180s")
	if v := version(); v != "v1" {
		t.Fatalf("after the rollback /version = %q, want v1", v)
	}
	// The post survived: it lives in the database, not in the web pods.
	if out := k("exec", "client", "--", "wget", "-qO-", "http://blog/api/posts"); !strings.Contains(out, "Hello") {
		t.Fatalf("posts after the rollback: %s", out)
	}

	// Clean up: deleting the namespace removes everything in it.
	c.kubectl("delete", "namespace", "demo", "--timeout=120s")
}

// checkPortForward runs `kubectl port-forward svc/blog` and fetches /version
// through it.
func checkPortForward(t *testing.T, c *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pf := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.kubeconfig, "-n", "demo", "port-forward", "svc/blog", ":80")
	pf.Env = append(os.Environ(), "HOME="+c.dir)
	out, err := pf.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pf.Stderr = pf.Stdout
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = pf.Wait() }()
	// "Forwarding from 127.0.0.1:PORT -> 8080"
	lines := bufio.NewScanner(out)
	var port string
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "Forwarding from 127.0.0.1:") {
			port = strings.Fields(strings.TrimPrefix(l, "Forwarding from 127.0.0.1:"))[0]
			break
		}
	}
	if port == "" {
		t.Fatalf("kubectl port-forward printed no local port (%v)", lines.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	resp, err := http.Get("http://127.0.0.1:" + port + "/version")
	if err != nil {
		t.Fatalf("GET through port-forward: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(strings.TrimSpace(string(b)), "v") {
		t.Fatalf("GET /version through port-forward: %s %q", resp.Status, b)
	}
}
