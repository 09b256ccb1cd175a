package events

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

func TestRecorderWritesEvents(t *testing.T) {
	client := ctrltest.NewClient()
	b := NewBroadcaster(client)
	defer b.Shutdown()
	rec := b.Recorder("replicaset-controller")
	rs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web", UID: "u1"}}
	rec.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", "web-abcde")
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		l, err := client.CoreV1().Events("ns1").List(context.Background(), metav1.ListOptions{})
		if err != nil || len(l.Items) != 1 {
			return false
		}
		e := l.Items[0]
		return e.Reason == "SuccessfulCreate" && e.Message == "Created pod: web-abcde" &&
			e.InvolvedObject.Name == "web" && e.InvolvedObject.UID == "u1" && e.Source.Component == "replicaset-controller"
	}, "event stored through the API")
	OrDiscard(nil).Event(rs, corev1.EventTypeNormal, "X", "dropped") // must not panic
}
