package kubelet

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/internal/ociimage"
	skctrd "github.com/skiffnet/skiff/node/containerd"
	"github.com/skiffnet/skiff/node/containerd/registrytest"
)

// waitingReasons polls pod name until its first container waits with
// reason final, and returns every waiting reason seen on the way.
func waitingReasons(t *testing.T, client *fake.Clientset, name, final string, timeout time.Duration) (map[string]bool, *v1.ContainerStateWaiting) {
	t.Helper()
	seen := map[string]bool{}
	var last *v1.ContainerStateWaiting
	ok := waitFor(context.Background(), timeout, 50*time.Millisecond, func() bool {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false
		}
		last = p.Status.ContainerStatuses[0].State.Waiting
		seen[last.Reason] = true
		return last.Reason == final
	})
	if !ok {
		t.Fatalf("pod %s never waited with %s; seen %v, last %+v", name, final, seen, last)
	}
	return seen, last
}

// eventsFor returns "Reason: message" of the events about pod name.
func eventsFor(client *fake.Clientset, name string) []string {
	evs, _ := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func hasEvent(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestPrivilegedKubeletPullsImages(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	archive, err := os.ReadFile(testappTar(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.WithBasicAuth("puller", "s3cret"))
	if err := reg.Push(archive, map[string]string{
		"docker.io/skiff/testapp:v1": "skiff/testapp:v1", "docker.io/skiff/testapp:v2": "skiff/testapp:v2",
	}); err != nil {
		t.Fatal(err)
	}
	// An image no archive the node imported shares layers with, so its
	// pull really downloads and unpacks them.
	var fresh bytes.Buffer
	err = ociimage.Write(&fresh, ociimage.Image{
		Name: "docker.io/skiff/fresh:v1",
		Layers: [][]ociimage.Entry{
			{{Path: "testapp", Source: filepath.Join(filepath.Dir(testappTar(t)), "testapp"), Mode: 0o755}, {Path: "tmp", Type: ociimage.Dir, Mode: 0o777}},
			{{Path: "etc/pulled", Data: []byte(fmt.Sprintf("pulled at %d\n", time.Now().UnixNano()))}},
		},
		Config: ociimage.Config{Entrypoint: []string{"/testapp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(fresh.Bytes(), map[string]string{"docker.io/skiff/fresh:v1": "skiff/fresh:v1"}); err != nil {
		t.Fatal(err)
	}
	dockercfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, "http://"+reg.Host+"/v2/",
		base64.StdEncoding.EncodeToString([]byte("puller:s3cret")))
	client := fake.NewSimpleClientset(
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "default"}, Type: v1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{v1.DockerConfigJsonKey: []byte(dockercfg)}},
	)
	env := newKubeletEnv(t, client)
	k, err := New(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	puller, err := skctrd.NewPuller(env.ctrd.Client(), skctrd.PullerOptions{ProgressInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k.SetImagePuller(puller)
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(kctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kubelet Run: %v", err)
		}
	})

	freshImage := reg.Host + "/skiff/fresh:v1"
	n := 0
	create := func(name, image string, policy v1.PullPolicy, secret bool) {
		t.Helper()
		n++
		p := testPod(name, fmt.Sprintf("%08d-2222-3333-4444-abcdefabcdef", n))
		p.Spec.Containers[0].Image = image
		p.Spec.Containers[0].ImagePullPolicy = policy
		if secret {
			p.Spec.ImagePullSecrets = []v1.LocalObjectReference{{Name: "regcred"}}
		}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := func(name string) *v1.Pod {
		t.Helper()
		return waitPod(t, client, name, "Running and Ready", 90*time.Second, func(p *v1.Pod) bool {
			return p.Status.Phase == v1.PodRunning && podReady(p)
		})
	}

	// IfNotPresent and absent: pulled with the pod's imagePullSecret, then runs.
	create("pulled", freshImage, v1.PullIfNotPresent, true)
	// Never and absent: not pulled.
	create("never", reg.Host+"/skiff/testapp:v2", v1.PullNever, true)
	// Absent from the registry: ErrImagePull, then ImagePullBackOff.
	create("missing", reg.Host+"/skiff/nothere:v1", v1.PullIfNotPresent, true)
	// No credentials for a registry that wants them.
	create("nocreds", reg.Host+"/skiff/testapp:v2", v1.PullIfNotPresent, false)

	got := running("pulled")
	cs := got.Status.ContainerStatuses[0]
	if !strings.HasPrefix(cs.ImageID, freshImage+"@sha256:") || cs.Image != freshImage {
		t.Fatalf("container status image %q id %q", cs.Image, cs.ImageID)
	}
	code, body, err := hostGET(env.host, got.Status.PodIP+":8080", "/hostname")
	if err != nil || code != 200 || body != "pulled" {
		t.Fatalf("pod from pulled image: %d %q %v", code, body, err)
	}
	if evs := eventsFor(client, "pulled"); !hasEvent(evs, "Pulling: Pulling image") || !hasEvent(evs, "Pulled: Successfully pulled image") {
		t.Errorf("pulled pod events: %q", evs)
	}

	seen, w := waitingReasons(t, client, "missing", "ImagePullBackOff", 30*time.Second)
	if !seen["ErrImagePull"] || !strings.Contains(w.Message, "not found") || !strings.Contains(w.Message, "skiff image import FILE.tar") {
		t.Errorf("missing image: seen %v, back-off message %q", seen, w.Message)
	}
	if evs := eventsFor(client, "missing"); !hasEvent(evs, "Failed: Failed to pull image") || !hasEvent(evs, "BackOff: Back-off pulling image") {
		t.Errorf("missing image events: %q", evs)
	}
	_, w = waitingReasons(t, client, "nocreds", "ImagePullBackOff", 30*time.Second)
	if !strings.Contains(w.Message, "refused access") || !strings.Contains(w.Message, "imagePullSecrets") {
		t.Errorf("no credentials: %q", w.Message)
	}
	_, w = waitingReasons(t, client, "never", "ErrImageNeverPull", 10*time.Second)
	if !strings.Contains(w.Message, "skiff image import") {
		t.Errorf("never: %q", w.Message)
	}
	if n := reg.ManifestRequests("skiff/testapp:v2"); n != 0 {
		t.Errorf("policy Never or a refused pull fetched the v2 manifest %d times", n)
	}

	// IfNotPresent and present: no registry request at all.
	before := reg.ManifestRequests("skiff/fresh:v1")
	create("present", freshImage, v1.PullIfNotPresent, false)
	running("present")
	if n := reg.ManifestRequests("skiff/fresh:v1"); n != before {
		t.Errorf("IfNotPresent with the image present asked the registry %d times", n-before)
	}
	// Always: asks the registry every start, even with the image present.
	create("always", freshImage, v1.PullAlways, true)
	running("always")
	if n := reg.ManifestRequests("skiff/fresh:v1"); n <= before {
		t.Error("policy Always started without asking the registry")
	}
	// Always with the registry gone fails as in Kubernetes, though present.
	reg.Close()
	create("always-down", freshImage, v1.PullAlways, true)
	_, w = waitingReasons(t, client, "always-down", "ImagePullBackOff", 30*time.Second)
	if !strings.Contains(w.Message, "no registry reachable") {
		t.Errorf("always with registry down: %q", w.Message)
	}

	// A pod in pull back-off is deleted promptly.
	if err := client.CoreV1().Pods("default").Delete(ctx, "missing", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, wk := range k.workers {
			if wk.currentPod().Name == "missing" {
				return false
			}
		}
		return true
	})
	if !gone {
		t.Error("worker of the deleted pod in pull back-off did not finish")
	}
}
