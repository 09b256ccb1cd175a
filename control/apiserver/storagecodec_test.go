package apiserver

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects go to etcd as protobuf; JSON written by earlier versions still
// reads back.
func TestStorageCodecProtobufAndOldJSON(t *testing.T) {
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	var pb, js bytes.Buffer
	if err := StorageCodec.Encode(pod, &pb); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pb.Bytes(), protoMagic) {
		t.Fatalf("stored encoding is not protobuf: %q", pb.Bytes()[:8])
	}
	if err := jsonCodec.Encode(pod, &js); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"protobuf": pb.Bytes(), "old JSON": js.Bytes()} {
		var got corev1.Pod
		if _, _, err := StorageCodec.Decode(data, nil, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Name != "p" || got.Spec.NodeName != "n1" || got.Labels["app"] != "web" || got.Spec.Containers[0].Image != "img" {
			t.Fatalf("%s decoded to %+v", name, got)
		}
	}
	if pb.Len() >= js.Len() {
		t.Errorf("protobuf (%d bytes) is not smaller than JSON (%d)", pb.Len(), js.Len())
	}
}
