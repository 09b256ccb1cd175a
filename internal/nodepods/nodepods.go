// Package nodepods watches the pods bound to one node.
//
// In: an API client and a node name. Out: an informer factory whose pod
// informer lists and watches only pods with spec.nodeName equal to that
// node. The agent hands one such factory to the kubelet, the service proxy
// and the static-pod manager, so each pod change is sent and decoded once.
package nodepods

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// Factory returns an informer factory limited to node's pods, without
// periodic resync.
func Factory(client kubernetes.Interface, node string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		}))
}
