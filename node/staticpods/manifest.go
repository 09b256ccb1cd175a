package staticpods

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// The annotations Kubernetes puts on mirror pods.
const (
	AnnotationSource = "kubernetes.io/config.source"
	AnnotationHash   = "kubernetes.io/config.hash"
	AnnotationMirror = "kubernetes.io/config.mirror"
	SourceFile       = "file"
)

// isManifest says whether a directory entry is read as a manifest.
func isManifest(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // editors' swap and backup files
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// parsePod decodes data, YAML or JSON, as exactly one v1 Pod and checks the
// fields a static pod needs.
func parsePod(data []byte) (*v1.Pod, error) {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue // empty document, e.g. a leading "---" or only comments
		}
		docs = append(docs, js)
	}
	switch {
	case len(docs) == 0:
		return nil, errors.New("is empty: write one Pod (apiVersion: v1, kind: Pod) into it")
	case len(docs) > 1:
		return nil, fmt.Errorf("holds %d objects: put one Pod per file", len(docs))
	}
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(docs[0], nil, nil)
	if err != nil {
		return nil, fmt.Errorf("does not decode as a Pod (want apiVersion: v1, kind: Pod): %w", err)
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, fmt.Errorf("holds a %s %s, not a Pod: only v1 Pods can be static pods", gvk.GroupVersion(), gvk.Kind)
	}
	if pod.Name == "" {
		return nil, errors.New("has no metadata.name: give the pod a name")
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, errors.New("has no spec.containers: a pod needs at least one container")
	}
	if pod.Namespace != "" {
		if msgs := validation.IsDNS1123Label(pod.Namespace); len(msgs) > 0 {
			return nil, fmt.Errorf("metadata.namespace %q is not a valid namespace name: %s", pod.Namespace, strings.Join(msgs, "; "))
		}
	}
	return pod, nil
}

// checkName checks that the mirror pod's name <pod>-<node> is a valid pod name.
func checkName(pod *v1.Pod, node string) error {
	name := mirrorName(pod, node)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("mirror pod name %q (metadata.name plus \"-%s\") is not a valid pod name: %s", name, node, strings.Join(msgs, "; "))
	}
	return nil
}

func mirrorName(pod *v1.Pod, node string) string { return pod.Name + "-" + node }

func namespaceOf(pod *v1.Pod) string {
	if pod.Namespace == "" {
		return metav1.NamespaceDefault
	}
	return pod.Namespace
}

// podHash identifies the content of a file's pod: the same pod written with
// other spacing, comments or key order hashes the same.
func podHash(pod *v1.Pod, raw []byte) string {
	b, err := json.Marshal(pod)
	if err != nil {
		b = raw // cannot happen for a decoded Pod; the raw bytes still identify it
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// mirrorPod builds the API object for a file's pod.
func mirrorPod(src *v1.Pod, node string, nodeUID types.UID, hash string) *v1.Pod {
	ann := map[string]string{}
	for k, v := range src.Annotations {
		ann[k] = v
	}
	ann[AnnotationSource] = SourceFile
	ann[AnnotationHash] = hash
	ann[AnnotationMirror] = hash
	var labels map[string]string
	if len(src.Labels) > 0 {
		labels = map[string]string{}
		for k, v := range src.Labels {
			labels[k] = v
		}
	}
	controller := false
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        mirrorName(src, node),
			Namespace:   namespaceOf(src),
			Labels:      labels,
			Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node, UID: nodeUID, Controller: &controller,
			}},
		},
		Spec: *src.Spec.DeepCopy(),
	}
	p.Spec.NodeName = node
	// Like the kubelet: a static pod stays on its node whatever NoExecute
	// taint the node gets.
	tolerated := false
	for _, t := range p.Spec.Tolerations {
		if t.Key == "" && t.Operator == v1.TolerationOpExists && (t.Effect == "" || t.Effect == v1.TaintEffectNoExecute) {
			tolerated = true
		}
	}
	if !tolerated {
		p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute})
	}
	return p
}

// isMirror says whether p is a mirror pod (of any source).
func isMirror(p *v1.Pod) bool {
	_, ok := p.Annotations[AnnotationMirror]
	return ok
}
