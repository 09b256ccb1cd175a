package deployment

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// HashLabel is the label that tells ReplicaSets of one Deployment apart.
const HashLabel = appsv1.DefaultDeploymentUniqueLabelKey

// ComputeHash returns a stable short hash of a pod template and the
// deployment's collision count: FNV-32a over the template's JSON encoding
// (struct fields in declaration order, map keys sorted), encoded with the
// API machinery's vowel-free alphabet so it is a valid label value.
func ComputeHash(tpl *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, err := json.Marshal(tpl)
	if err != nil {
		// A PodTemplateSpec always marshals; fall back to its Go syntax.
		b = []byte(tpl.String())
	}
	h.Write(b)
	if collisionCount != nil {
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(*collisionCount))
		h.Write(buf[:])
	}
	return utilrand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// EqualIgnoreHash reports whether two templates are equal apart from the
// pod-template-hash label.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, HashLabel)
	delete(b.Labels, HashLabel)
	return apiequality.Semantic.DeepEqual(a, b)
}
