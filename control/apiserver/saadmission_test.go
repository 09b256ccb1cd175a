package apiserver

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func apiAccessVolumeOf(p *corev1.Pod) *corev1.Volume {
	for i, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, saVolumePrefix) {
			return &p.Spec.Volumes[i]
		}
	}
	return nil
}

func TestServiceAccountAdmission(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	mkNS(t, admin, "adm") // its default service account exists at once
	pods := admin.CoreV1().Pods("adm")
	create := func(p *corev1.Pod) (*corev1.Pod, error) {
		return pods.Create(ctx, p, metav1.CreateOptions{})
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers: []corev1.Container{{Name: "a", Image: "busybox"},
				{Name: "own", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: SATokenMountPath}}}},
			Volumes: []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}
	}

	got, err := create(pod("plain"))
	if err != nil {
		t.Fatalf("pod in a namespace created just before: %v", err)
	}
	v := apiAccessVolumeOf(got)
	if got.Spec.ServiceAccountName != "default" || v == nil || len(v.Name) != len(saVolumePrefix)+5 || v.Projected == nil {
		t.Fatalf("injected: sa %q volumes %+v", got.Spec.ServiceAccountName, got.Spec.Volumes)
	}
	src := v.Projected.Sources
	if len(src) != 3 || src[0].ServiceAccountToken == nil || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 || src[0].ServiceAccountToken.Path != "token" ||
		src[1].ConfigMap == nil || src[1].ConfigMap.Name != RootCAConfigMap || src[1].ConfigMap.Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) ||
		src[2].DownwardAPI == nil || src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" || src[2].DownwardAPI.Items[0].Path != "namespace" ||
		*v.Projected.DefaultMode != 0o644 {
		t.Fatalf("projected volume: %+v", v.Projected)
	}
	want := corev1.VolumeMount{Name: v.Name, ReadOnly: true, MountPath: SATokenMountPath}
	for _, c := range []corev1.Container{got.Spec.InitContainers[0], got.Spec.Containers[0]} {
		if len(c.VolumeMounts) != 1 || !reflect.DeepEqual(c.VolumeMounts[0], want) {
			t.Fatalf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
	if m := got.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Fatalf("a container with its own mount at the path: %+v", m)
	}

	no := false
	p := pod("off")
	p.Spec.AutomountServiceAccountToken = &no
	if got, err := create(p); err != nil || apiAccessVolumeOf(got) != nil || len(got.Spec.Containers[0].VolumeMounts) != 0 {
		t.Fatalf("automount false on the pod: %v %+v", err, got)
	}
	if _, err := admin.CoreV1().ServiceAccounts("adm").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: &no}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = pod("quiet")
	p.Spec.ServiceAccountName = "quiet"
	if got, err := create(p); err != nil || apiAccessVolumeOf(got) != nil {
		t.Fatalf("automount false on the service account: %v %+v", err, got)
	}
	p = pod("mirror")
	p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
	p.Spec.ServiceAccountName = "nope"
	if got, err := create(p); err != nil || apiAccessVolumeOf(got) != nil {
		t.Fatalf("mirror pod: %v %+v", err, got)
	}
	p = pod("nope")
	p.Spec.ServiceAccountName = "nope"
	if _, err := create(p); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account adm/nope: serviceaccount "nope" not found`) {
		t.Fatalf("missing service account: %v", err)
	}

	p = pod("badname")
	p.Spec.ServiceAccountName = "Not_A_Name"
	if _, err := create(p); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.serviceAccountName") {
		t.Fatalf("invalid service account name: %v", err)
	}

	// The default account being recreated (by the controller) is waited for.
	if err := admin.CoreV1().ServiceAccounts("adm").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		admin.CoreV1().ServiceAccounts("adm").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	}()
	if _, err := create(pod("waits")); err != nil {
		t.Fatalf("pod while the default account is recreated: %v", err)
	}
	if err := admin.CoreV1().ServiceAccounts("adm").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := create(pod("nodefault")); !apierrors.IsForbidden(err) {
		t.Fatalf("pod without a default account: %v", err)
	}
}
