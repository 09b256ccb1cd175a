package nodepods

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestFactoryAsksForTheNodesPodsOnly(t *testing.T) {
	client := fake.NewSimpleClientset()
	var selectors []string
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		selectors = append(selectors, a.(k8stesting.ListAction).GetListRestrictions().Fields.String())
		return true, &v1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}, nil
	})
	f := Factory(client, "n1")
	inf := f.Core().V1().Pods().Informer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	if !inf.HasSynced() {
		t.Fatal("pod informer did not sync")
	}
	if len(selectors) == 0 || selectors[0] != "spec.nodeName=n1" {
		t.Fatalf("list field selectors = %q, want spec.nodeName=n1", selectors)
	}
}
