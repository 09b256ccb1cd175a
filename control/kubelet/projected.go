package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// volumeError is a volume that could not be set up. The worker reports it
// as a FailedMount event and keeps retrying, as Kubernetes does.
type volumeError struct {
	volume string
	err    error
}

func (e *volumeError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.volume, e.err)
}

func (e *volumeError) Unwrap() error { return e.err }

// fileMode turns an API mode (defaultMode or an item's mode) into a file
// mode, rejecting bits outside 0777.
func fileMode(m *int32, def os.FileMode) (os.FileMode, error) {
	if m == nil {
		return def, nil
	}
	if *m < 0 || *m > 0o777 {
		return 0, fmt.Errorf("mode %#o is out of range: use an octal value from 0000 to 0777 (decimal 0 to 511)", *m)
	}
	return os.FileMode(*m), nil
}

// fileSet collects a volume's files, defaulting modes and rejecting bad
// or duplicate paths.
type fileSet struct {
	def   os.FileMode
	files map[string]volumeFile
}

func newFileSet(defaultMode *int32, fallback int32) (*fileSet, error) {
	def, err := fileMode(defaultMode, os.FileMode(fallback))
	if err != nil {
		return nil, fmt.Errorf("defaultMode: %w", err)
	}
	return &fileSet{def: def, files: map[string]volumeFile{}}, nil
}

func (fs *fileSet) add(path string, data []byte, mode *int32) error {
	if err := validVolumePath(path); err != nil {
		return err
	}
	m, err := fileMode(mode, fs.def)
	if err != nil {
		return fmt.Errorf("item %q: %w", path, err)
	}
	clean := filepath.Clean(path)
	if _, dup := fs.files[clean]; dup {
		return fmt.Errorf("conflicting duplicate paths: %q is projected twice", path)
	}
	fs.files[clean] = volumeFile{data: data, mode: m}
	return nil
}

// projectedFiles computes the files of a projected volume: service-account
// tokens, ConfigMap and Secret keys and downward API fields. pod carries
// the status (podIP, hostIP) the downward API reports.
func projectedFiles(ctx context.Context, client kubernetes.Interface, tokens *tokenManager, pod *v1.Pod, src *v1.ProjectedVolumeSource) (map[string]volumeFile, error) {
	set, err := newFileSet(src.DefaultMode, v1.ProjectedVolumeSourceDefaultMode)
	if err != nil {
		return nil, err
	}
	add := set.add
	// Kubernetes gives the token to the user all containers run as, if
	// they agree, readable by that user only.
	addToken := func(path string, token []byte) error {
		user := podRunAsUser(pod)
		if user == nil {
			return add(path, token, nil)
		}
		private := int32(0o600)
		if err := add(path, token, &private); err != nil {
			return err
		}
		f := set.files[filepath.Clean(path)]
		f.owner = user
		set.files[filepath.Clean(path)] = f
		return nil
	}
	for i, s := range src.Sources {
		var err error
		switch {
		case s.ServiceAccountToken != nil:
			err = projectToken(ctx, tokens, pod, s.ServiceAccountToken, addToken)
		case s.ConfigMap != nil:
			err = projectConfigMap(ctx, client, pod.Namespace, s.ConfigMap, add)
		case s.Secret != nil:
			err = projectSecret(ctx, client, pod.Namespace, s.Secret, add)
		case s.DownwardAPI != nil:
			err = projectDownwardAPI(pod, s.DownwardAPI.Items, add)
		case s.ClusterTrustBundle != nil, s.PodCertificate != nil:
			err = fmt.Errorf("source %d: clusterTrustBundle and podCertificate sources are not supported (use serviceAccountToken, configMap, secret or downwardAPI)", i)
		default:
			err = fmt.Errorf("source %d names no source", i)
		}
		if err != nil {
			return nil, err
		}
	}
	return set.files, nil
}

type addFile func(path string, data []byte, mode *int32) error

func projectToken(ctx context.Context, tokens *tokenManager, pod *v1.Pod, src *v1.ServiceAccountTokenProjection, add func(string, []byte) error) error {
	if src.Path == "" {
		return errors.New("serviceAccountToken: path is required")
	}
	if tokens == nil {
		return errors.New("serviceAccountToken: this kubelet has no token manager")
	}
	tok, err := tokens.token(ctx, pod, src)
	if err != nil {
		return err
	}
	return add(src.Path, []byte(tok))
}

// podRunAsUser is the user every container of the pod runs as, or nil
// when one does not say or they differ.
func podRunAsUser(pod *v1.Pod) *int64 {
	var podUser *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		podUser = sc.RunAsUser
	}
	var users []*int64
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			users = append(users, containerUser(c.SecurityContext, podUser))
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		users = append(users, containerUser(c.SecurityContext, podUser))
	}
	if len(users) == 0 {
		return nil
	}
	for _, u := range users {
		if u == nil || *u != *users[0] {
			return nil
		}
	}
	return users[0]
}

func containerUser(sc *v1.SecurityContext, podUser *int64) *int64 {
	if sc != nil && sc.RunAsUser != nil {
		return sc.RunAsUser
	}
	return podUser
}

func projectConfigMap(ctx context.Context, client kubernetes.Interface, ns string, src *v1.ConfigMapProjection, add addFile) error {
	optional := src.Optional != nil && *src.Optional
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, src.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil
		}
		return fmt.Errorf("configmap %q: %w", src.Name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys("configmap", src.Name, data, src.Items, optional, add)
}

func projectSecret(ctx context.Context, client kubernetes.Interface, ns string, src *v1.SecretProjection, add addFile) error {
	optional := src.Optional != nil && *src.Optional
	s, err := client.CoreV1().Secrets(ns).Get(ctx, src.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil
		}
		return fmt.Errorf("secret %q: %w", src.Name, err)
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	for k, v := range s.Data {
		data[k] = v
	}
	return projectKeys("secret", src.Name, data, src.Items, optional, add)
}

// projectKeys adds all keys of data, or only the listed items.
func projectKeys(kind, name string, data map[string][]byte, items []v1.KeyToPath, optional bool, add addFile) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := add(k, data[k], nil); err != nil {
				return fmt.Errorf("%s %q: %w", kind, name, err)
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s %q has no key %q (add it, or mark the source optional)", kind, name, it.Key)
		}
		if err := add(it.Path, v, it.Mode); err != nil {
			return fmt.Errorf("%s %q: %w", kind, name, err)
		}
	}
	return nil
}

// projectDownwardAPI adds pod fields and container resources.
func projectDownwardAPI(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, add addFile) error {
	src := envSource{nodeName: pod.Spec.NodeName, podIP: pod.Status.PodIP, hostIP: pod.Status.HostIP}
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.labels":
			val = formatMap(pod.Labels)
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.annotations":
			val = formatMap(pod.Annotations)
		case it.FieldRef != nil:
			val, err = fieldValue(pod, it.FieldRef.FieldPath, src)
		case it.ResourceFieldRef != nil:
			val, err = downwardResource(pod, it.ResourceFieldRef)
		default:
			err = errors.New("names neither fieldRef nor resourceFieldRef")
		}
		if err != nil {
			return fmt.Errorf("downwardAPI item %q: %w", it.Path, err)
		}
		if err := add(it.Path, []byte(val), it.Mode); err != nil {
			return fmt.Errorf("downwardAPI: %w", err)
		}
	}
	return nil
}

// formatMap renders labels or annotations as Kubernetes does: one
// key="value" per line, sorted by key.
func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

func downwardResource(pod *v1.Pod, r *v1.ResourceFieldSelector) (string, error) {
	if r.ContainerName == "" {
		return "", fmt.Errorf("resourceFieldRef %q needs containerName in a volume", r.Resource)
	}
	for _, list := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == r.ContainerName {
				return resourceFieldValue(&list[i], r)
			}
		}
	}
	return "", fmt.Errorf("resourceFieldRef names container %q, which the pod does not have", r.ContainerName)
}

// writeProjected materialises a projected or downwardAPI volume into
// vdir, replacing its previous contents atomically.
func writeProjected(ctx context.Context, client kubernetes.Interface, tokens *tokenManager, pod *v1.Pod, vol *v1.Volume, vdir string) error {
	var files map[string]volumeFile
	var err error
	switch {
	case vol.Projected != nil:
		files, err = projectedFiles(ctx, client, tokens, pod, vol.Projected)
	case vol.DownwardAPI != nil:
		var set *fileSet
		if set, err = newFileSet(vol.DownwardAPI.DefaultMode, v1.DownwardAPIVolumeSourceDefaultMode); err == nil {
			err = projectDownwardAPI(pod, vol.DownwardAPI.Items, set.add)
			files = set.files
		}
	default:
		err = errors.New("is neither projected nor downwardAPI")
	}
	if err == nil {
		err = writeAtomicDir(vdir, files)
	}
	if err != nil {
		return &volumeError{volume: vol.Name, err: err}
	}
	return nil
}

// volumePodLocked is the pod as its volumes see it: with the address and
// node the worker knows even before the API status carries them.
func (w *podWorker) volumePodLocked() *v1.Pod {
	pod := w.pod.DeepCopy()
	if w.podIP != "" {
		pod.Status.PodIP = w.podIP
	}
	if w.k.cfg.NodeIP != "" {
		pod.Status.HostIP = w.k.cfg.NodeIP
	}
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = w.k.cfg.NodeName
	}
	return pod
}

// refreshProjectedLocked rewrites the pod's projected and downwardAPI
// volumes once every Kubelet.projectedEvery while it runs: tokens are
// renewed after 80% of their lifetime, and ConfigMap, Secret and downward
// API files (labels, annotations) follow their sources. A failure keeps
// the old files and is reported as FailedMount.
func (w *podWorker) refreshProjectedLocked(ctx context.Context) {
	now := w.k.tokens.now()
	if w.terminalLocked() != "" || now.Before(w.projectedAt.Add(w.k.projectedEvery)) {
		return
	}
	w.projectedAt = now
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // the pod's loop waits meanwhile
	defer cancel()
	pod := w.volumePodLocked()
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.Projected == nil && vol.DownwardAPI == nil {
			continue
		}
		vdir := filepath.Join(w.dir, "volumes", vol.Name)
		if err := writeProjected(ctx, w.k.cfg.Client, w.k.tokens, pod, vol, vdir); err != nil {
			w.log.Warn("refresh projected volume; the previous files stay", "volume", vol.Name, "err", err)
			w.mountFailedLocked(err)
		}
	}
}

// mountFailedLocked records a FailedMount event for a volume error.
func (w *podWorker) mountFailedLocked(err error) {
	var ve *volumeError
	if errors.As(err, &ve) {
		w.event(w.pod, "", v1.EventTypeWarning, "FailedMount", ve.Error())
	}
}
