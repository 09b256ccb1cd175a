package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
)

// A container running as a non-root user reads the kube-api-access files
// at the standard path; the token is renewed in place while it runs, and
// the kubelet forgets the pod's tokens when the pod is gone.
func TestPrivilegedProjectedServiceAccountToken(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}},
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "default"}, Data: map[string]string{"ca.crt": "test-ca\n"}},
	)
	// The kubelet's and the token server's clock: real time plus a skew
	// the test moves forward to make the token due for renewal.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ts := newTokenServer(client)
	ts.nowFn = clock
	env := newKubeletEnv(t, client)

	k, err := New(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	k.tokens = newTokenManager(env.cfg.Client, clock, k.log)
	k.projectedEvery = time.Second
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kubelet Run: %v", err)
		}
	})

	pod := testPod("sa-reader", "abababab-2222-3333-4444-555555555555")
	pod.Spec.ServiceAccountName = "reader"
	pod.Spec.Volumes = []v1.Volume{kubeAPIAccess("kube-api-access-q8w2z")}
	user := int64(1000)
	app := &pod.Spec.Containers[0]
	app.SecurityContext = &v1.SecurityContext{RunAsUser: &user}
	app.VolumeMounts = []v1.VolumeMount{{Name: "kube-api-access-q8w2z", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, client, "sa-reader", "Running", 60*time.Second, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	w := k.worker("default", "sa-reader")
	if w == nil {
		t.Fatal("no worker for sa-reader")
	}
	w.mu.Lock()
	inst := w.ctrs[0].inst
	w.mu.Unlock()
	read := func() string {
		t.Helper()
		code, out, err := execIn(ctx, inst, []string{"/bin/sh", "-c",
			"id -u; cd /var/run/secrets/kubernetes.io/serviceaccount && cat token; echo; cat namespace; echo; cat ca.crt"})
		if err != nil || code != 0 {
			t.Fatalf("read the service-account files in the container: %d %v %s", code, err, out)
		}
		return out
	}
	if out, want := read(), "1000\ntok-1\ndefault\ntest-ca\n"; out != want {
		t.Fatalf("container sees %q, want %q", out, want)
	}
	// The token is the container user's alone; the rest is world-readable.
	vol := filepath.Join(k.podDir(pod.UID), "volumes", "kube-api-access-q8w2z")
	for name, want := range map[string]string{"token": "600 1000", "ca.crt": "644 0", "namespace": "644 0"} {
		st, err := os.Stat(filepath.Join(vol, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%o %d", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid); got != want {
			t.Errorf("%s: mode and owner %s, want %s", name, got, want)
		}
	}
	ts.mu.Lock()
	ref := ts.reqs[0].Spec.BoundObjectRef
	sa := ts.sas[0]
	ts.mu.Unlock()
	if sa != "reader" || ref == nil || ref.Kind != "Pod" || ref.UID != pod.UID {
		t.Fatalf("token requested for %q bound to %+v, want the pod's service account bound to the pod", sa, ref)
	}

	// 50 of the token's 60 minutes pass: it is renewed in the running
	// container's view, without a restart.
	skew.Store(int64(50 * time.Minute))
	var out string
	if !waitFor(ctx, 15*time.Second, 200*time.Millisecond, func() bool {
		out = read()
		return strings.Contains(out, "\ntok-2\n")
	}) {
		t.Fatalf("token not renewed after 80%% of its lifetime; container sees %q", out)
	}
	got, _ := client.CoreV1().Pods("default").Get(ctx, "sa-reader", metav1.GetOptions{})
	if cs := got.Status.ContainerStatuses[0]; cs.RestartCount != 0 {
		t.Fatalf("container restarted %d times", cs.RestartCount)
	}

	// The pod goes away: its cached tokens are dropped.
	if err := client.CoreV1().Pods("default").Delete(ctx, "sa-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool { return cachedTokens(k.tokens, pod.UID) == 0 && k.worker("default", "sa-reader") == nil }) {
		t.Fatalf("%d tokens of the deleted pod still cached", cachedTokens(k.tokens, pod.UID))
	}
}
