// Package chattest is the conformance suite of the front-door contract
// (bot/chat.Door), as testing/fstest.TestFS is of fs.FS: Run drives one
// door, running in front of the real command layer and a simulated Clore,
// through the platform as its users see it, and checks the behaviours
// every door owes them whatever its platform: a rent whose progress is one
// message updated in place, its Cancel button pressed by a stranger
// (refused, to them alone) and by its owner, a refusal, a duplicate
// delivery of one command, a command whose acknowledgement window has
// passed, and connection details shown to the requester alone.
//
// Only tests import it (internal/layout checks); each door's test
// implements Driver over its platform's fake (slacktest, discordtest) or
// its own, and Backend over the process it runs.
package chattest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Message is what a conversation shows: a message everyone in the channel
// sees (To == ""), or one shown to one user alone (ephemeral, a DM).
type Message struct {
	// ID is the platform's handle of the message, for Click.
	ID string
	// To is the user the message is shown to alone; "" for the channel.
	To string
	// Text is everything the message shows and carries, as the platform
	// holds it (content, blocks or components, buttons' action ids).
	Text string
	// Edits is how many times it was updated in place.
	Edits int
}

// Driver is one front door as its platform's users see it, in front of a
// running command layer. Users are the platform's own user ids.
type Driver interface {
	// Users are the three people of the suite: owner and stranger may
	// rent, viewer may only look.
	Users() (owner, stranger, viewer string)
	// Command delivers text typed by user as the platform's delivery
	// delivery (a redelivery passes the same id), and returns once the
	// door acknowledged it.
	Command(t testing.TB, user, text, delivery string)
	// Click delivers user's press of the button actionID on m, as the
	// platform's delivery delivery, and returns once the door acknowledged
	// it. A platform that asks before a cancel answers its question yes.
	Click(t testing.TB, user string, m Message, actionID, delivery string)
	// Late delivers text typed by user so that the door's answer comes
	// after the platform's acknowledgement window (the platform refuses
	// the answer, or the request is stale), and returns once the door is
	// done with it.
	Late(t testing.TB, user, text, delivery string)
	// Messages is what the conversation shows now.
	Messages(t testing.TB) []Message
}

// Backend is the command layer's side of the door: what was stored and
// what runs at Clore.
type Backend interface {
	// Jobs is how many jobs the command layer stored.
	Jobs(t testing.TB) int
	// ActiveOrders is how many orders run at Clore.
	ActiveOrders(t testing.TB) int
}

// Wait bounds every wait of the suite: long enough for a loaded machine.
const Wait = 45 * time.Second

var runningOrder = regexp.MustCompile(`Order #(\d+) is running`)

// Run checks the behaviours of the contract, in order, against one door
// (they share the conversation). gpu is a model the marketplace offers.
func Run(t *testing.T, d Driver, b Backend, gpu string) {
	s := &suite{d: d, b: b, gpu: gpu}
	s.owner, s.stranger, s.viewer = d.Users()
	if !t.Run("rent with progress, secrets to the requester alone", s.rentWithProgress) {
		t.FailNow() // the rest acts on its order
	}
	t.Run("cancel pressed by a stranger", s.cancelByStranger)
	t.Run("cancel pressed by the owner", s.cancelByOwner)
	t.Run("refusal", s.refusal)
	t.Run("duplicate delivery", s.duplicateDelivery)
	t.Run("late answer", s.lateAnswer)
}

// suite is one run of Run: the door, its users, and the rent's message.
type suite struct {
	d                       Driver
	b                       Backend
	gpu                     string
	owner, stranger, viewer string
	job                     Message // the first rent's message
	orderID                 string  // its order
}

func (s *suite) rentWithProgress(t *testing.T) {
	s.d.Command(t, s.owner, "rent "+s.gpu+" --hours 1", "rent-1")
	// The job's message: the order runs, and it has a Cancel button
	// (lifecycle events may say that the order runs too).
	s.job = waitFor(t, s.d, "the rent's message saying the order runs, with a Cancel button", func(m Message) bool {
		sub := runningOrder.FindStringSubmatch(m.Text)
		return m.To == "" && sub != nil && strings.Contains(m.Text, "cancel:"+sub[1])
	})
	s.orderID = runningOrder.FindStringSubmatch(s.job.Text)[1]
	if s.job.Edits == 0 {
		t.Errorf("the job's message was never updated in place: %q", s.job.Text)
	}
	waitFor(t, s.d, "connection details for the requester", func(m Message) bool {
		return m.To == s.owner && strings.Contains(m.Text, "Password")
	})
	checkSecrets(t, s.d, s.owner)
	if n := s.b.ActiveOrders(t); n != 1 {
		t.Errorf("%d orders at Clore, want 1", n)
	}
}

func (s *suite) cancelByStranger(t *testing.T) {
	s.d.Click(t, s.stranger, s.job, "cancel:"+s.orderID, "click-stranger")
	waitFor(t, s.d, "the refusal, to the stranger", func(m Message) bool {
		return m.To == s.stranger && strings.Contains(m.Text, "not yours")
	})
	for _, m := range s.d.Messages(t) {
		if m.ID == s.job.ID && m.Text != s.job.Text {
			t.Errorf("the stranger's click changed the job's message: %q", m.Text)
		}
		if m.To == "" && strings.Contains(m.Text, "not yours") {
			t.Errorf("the refusal is in the channel: %q", m.Text)
		}
	}
	if n := s.b.ActiveOrders(t); n != 1 {
		t.Errorf("%d orders at Clore after the stranger's click, want 1", n)
	}
}

func (s *suite) cancelByOwner(t *testing.T) {
	s.d.Click(t, s.owner, s.job, "cancel:"+s.orderID, "click-owner")
	waitFor(t, s.d, "the order cancelled", func(m Message) bool {
		return m.To == "" && strings.Contains(m.Text, "#"+s.orderID) && strings.Contains(m.Text, "cancelled")
	})
	eventually(t, "no order at Clore", func() bool { return s.b.ActiveOrders(t) == 0 })
}

func (s *suite) refusal(t *testing.T) {
	jobs := s.b.Jobs(t)
	s.d.Command(t, s.viewer, "rent "+s.gpu, "refused-1")
	waitFor(t, s.d, "the refusal, to the viewer", func(m Message) bool {
		return m.To == s.viewer && strings.Contains(m.Text, "needs the renter role")
	})
	for _, m := range s.d.Messages(t) {
		if m.To == "" && strings.Contains(m.Text, "needs the renter role") {
			t.Errorf("the refusal is in the channel: %q", m.Text)
		}
	}
	if n := s.b.Jobs(t); n != jobs {
		t.Errorf("the refused rent stored a job (%d jobs, were %d)", n, jobs)
	}
}

func (s *suite) duplicateDelivery(t *testing.T) {
	jobs := s.b.Jobs(t)
	s.d.Command(t, s.owner, "rent "+s.gpu+" --hours 1", "rent-twice")
	s.d.Command(t, s.owner, "rent "+s.gpu+" --hours 1", "rent-twice")
	waitFor(t, s.d, "the order's message saying it runs", func(m Message) bool {
		sub := runningOrder.FindStringSubmatch(m.Text)
		return m.To == "" && m.ID != s.job.ID && sub != nil && sub[1] != s.orderID && strings.Contains(m.Text, "cancel:"+sub[1])
	})
	if n := s.b.Jobs(t); n != jobs+1 {
		t.Errorf("one command delivered twice stored %d jobs, want 1", n-jobs)
	}
	if n := s.b.ActiveOrders(t); n != 1 {
		t.Errorf("one command delivered twice: %d orders at Clore, want 1", n)
	}
	checkSecrets(t, s.d, s.owner)
}

func (s *suite) lateAnswer(t *testing.T) {
	jobs := s.b.Jobs(t)
	s.d.Late(t, s.owner, "rent "+s.gpu+" --hours 1", "rent-late")
	if n := s.b.Jobs(t); n != jobs {
		t.Errorf("a rent past its acknowledgement window stored %d job(s): the user was told it failed", n-jobs)
	}
}

// checkSecrets fails when a password is shown to anyone but owner.
func checkSecrets(t testing.TB, d Driver, owner string) {
	t.Helper()
	for _, m := range d.Messages(t) {
		if m.To != owner && (strings.Contains(m.Text, "Password") || strings.Contains(m.Text, "ssh -p")) {
			t.Errorf("connection details shown to %q: %q", cmpTo(m.To), m.Text)
		}
	}
}

func cmpTo(to string) string {
	if to == "" {
		return "the channel"
	}
	return to
}

// waitFor waits until a message of d satisfies ok and returns it.
func waitFor(t testing.TB, d Driver, what string, ok func(Message) bool) Message {
	t.Helper()
	var found Message
	eventually(t, what, func() bool {
		for _, m := range d.Messages(t) {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// eventually polls cond until it holds, failing the test after Wait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("chattest: no %s within %v", what, Wait))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
