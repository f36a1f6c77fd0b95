package commands

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// The command line reads the SSH endpoint back out of the connection details
// the rent job writes: the two must agree.
func TestSSHEndpointReadsConnectionDetails(t *testing.T) {
	o := clore.Order{ID: 7, PubCluster: []string{"n1.clore.example"}, TCPPorts: []string{"22:40022", "8888:40023"}}
	pass := "generated-" + "pw"
	e, ok := connectionDetails(o, rentParams{SSHPassword: pass}).SSH()
	want := SSHEndpoint{User: "root", Host: "n1.clore.example", Port: 40022, Password: pass}
	if !ok || e != want {
		t.Fatalf("SSH() = %+v, %v; want %+v", e, ok, want)
	}
	if _, ok := connectionDetails(clore.Order{ID: 8}, rentParams{SSHKey: "k"}).SSH(); ok {
		t.Fatal("an order without a published port has no SSH endpoint")
	}
	if _, ok := (*PrivatePart)(nil).SSH(); ok {
		t.Fatal("nil private part")
	}
}

func TestViewJobReadsRentCheckpoint(t *testing.T) {
	deadline := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	cp, _ := json.Marshal(rentCheckpoint{Offer: &offerChoice{USDPerHour: 1.5}, CloreID: 42, Deadline: deadline})
	v := viewJob(Job{ID: "j", Kind: JobRent, State: JobRunning, Step: stepProvisioning, Checkpoint: cp})
	if v.CloreOrderID == nil || *v.CloreOrderID != 42 || v.USDPerHour == nil || *v.USDPerHour != 1.5 ||
		!v.Deadline.Equal(deadline) || !v.OrderMayExist {
		t.Fatalf("view = %+v", v)
	}
	if v := viewJob(Job{ID: "j", Kind: JobRent, State: JobQueued}); v.OrderMayExist || v.CloreOrderID != nil {
		t.Fatalf("a queued rent has no order: %+v", v)
	}
	p, _ := json.Marshal(cancelParams{CloreOrderID: 9})
	if v := viewJob(Job{ID: "c", Kind: JobCancel, Params: p}); v.CloreOrderID == nil || *v.CloreOrderID != 9 {
		t.Fatalf("cancel view = %+v", v)
	}
}
