package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffnet/skiff/control/controllers/rootca"
	"github.com/skiffnet/skiff/control/controllers/serviceaccount"
	"github.com/skiffnet/skiff/control/storage"
)

// Service-account admission, as Kubernetes' ServiceAccount plugin.
const (
	defaultServiceAccount = serviceaccount.DefaultName
	// SATokenMountPath is where pods find their token, CA and namespace.
	SATokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// saVolumePrefix starts the name of the injected projected volume.
	saVolumePrefix = "kube-api-access-"
	// RootCAConfigMap is the ConfigMap every namespace holds the cluster CA
	// in (published by control/controllers/rootca).
	RootCAConfigMap = rootca.ConfigMapName
	// saTokenSeconds is the lifetime the kubelet asks for, Kubernetes' 3607.
	saTokenSeconds = 3607
	// defaultSAWait is how long a pod create waits for the default service
	// account of a namespace made moments before.
	defaultSAWait = 2 * time.Second
)

// admitServiceAccount runs on pod create: it defaults
// spec.serviceAccountName to "default", refuses a pod whose service
// account does not exist (403, Kubernetes' message), and unless
// automountServiceAccountToken is false on the pod or the service account,
// adds the kube-api-access-xxxxx projected volume (token, ca.crt,
// namespace) and mounts it read-only at SATokenMountPath in every init and
// app container that has nothing mounted there. Mirror pods are left
// alone.
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
	}
	if len(k8svalidation.IsDNS1123Subdomain(pod.Spec.ServiceAccountName)) > 0 {
		return nil // not a name: validation answers with a 422
	}
	sa, err := s.waitServiceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return err
	}
	if sa == nil {
		return apierrors.NewForbidden(schemaGR("", "pods"), pod.Name, fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found",
			pod.Namespace, pod.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
	}
	automount := true
	switch {
	case pod.Spec.AutomountServiceAccountToken != nil:
		automount = *pod.Spec.AutomountServiceAccountToken
	case sa.AutomountServiceAccountToken != nil:
		automount = *sa.AutomountServiceAccountToken
	}
	if automount {
		injectAPIAccess(pod)
	}
	return nil
}

// waitServiceAccount reads ns/name; the default service account, which a
// controller creates moments after its namespace, is polled for up to
// defaultSAWait. A missing one is (nil, nil).
func (s *Server) waitServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	deadline := time.Now().Add(defaultSAWait)
	for {
		sa := &corev1.ServiceAccount{}
		_, err := s.Store.Get(ctx, storage.Key("serviceaccounts", ns, name), sa)
		switch {
		case err == nil:
			return sa, nil
		case !errors.Is(err, storage.ErrNotFound):
			return nil, apierrors.NewInternalError(fmt.Errorf("error looking up service account %s/%s: %w", ns, name, err))
		case name != defaultServiceAccount || time.Now().After(deadline):
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// injectAPIAccess adds the projected service-account volume and its mounts.
func injectAPIAccess(pod *corev1.Pod) {
	volName := ""
	names := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		names[v.Name] = true
		if strings.HasPrefix(v.Name, saVolumePrefix) && v.Projected != nil {
			volName = v.Name // already there (a copy of a pod that had it)
		}
	}
	haveVolume := volName != ""
	for volName == "" || (!haveVolume && names[volName]) {
		volName = saVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: volName, ReadOnly: true, MountPath: SATokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsAt(cs[i].VolumeMounts, SATokenMountPath) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if needed && !haveVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volName, VolumeSource: apiAccessVolume()})
	}
}

func mountsAt(ms []corev1.VolumeMount, path string) bool {
	for _, m := range ms {
		if strings.TrimSuffix(m.MountPath, "/") == path {
			return true
		}
	}
	return false
}

// apiAccessVolume is the projected volume Kubernetes gives every pod.
func apiAccessVolume() corev1.VolumeSource {
	return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptrTo(int64(saTokenSeconds)), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
		DefaultMode: ptrTo(int32(0o644)),
	}}
}

// ensureNamespaceDefaults creates, in a namespace this server just
// created, the "default" ServiceAccount and the kube-root-ca.crt ConfigMap,
// so a pod created right after the namespace neither waits for the
// serviceaccount and rootca controllers (which still recreate them if
// deleted, and cover namespaces made before) nor fails its kube-api-access
// volume.
func (s *Server) ensureNamespaceDefaults(ctx context.Context, ns string) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccount, Namespace: ns}}
	if _, err := s.create(ctx, lookup("", "v1", "serviceaccounts"), ns, sa, false); err != nil && !apierrors.IsAlreadyExists(err) {
		s.Log.Warn("could not create the default service account; the serviceaccount controller will retry", "namespace", ns, "err", err)
	}
	if s.PKI == nil || len(s.PKI.CAPEM) == 0 {
		return
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: ns},
		Data: map[string]string{"ca.crt": string(s.PKI.CAPEM)}}
	if _, err := s.create(ctx, lookup("", "v1", "configmaps"), ns, cm, false); err != nil && !apierrors.IsAlreadyExists(err) {
		s.Log.Warn("could not publish the cluster CA in the new namespace; the rootca controller will retry", "namespace", ns, "configmap", RootCAConfigMap, "err", err)
	}
}
