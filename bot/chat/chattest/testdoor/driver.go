package testdoor

import (
	"context"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/chat/chattest"
)

// Users implements chattest.Driver: the policy identities are
// "testdoor:owner", "testdoor:stranger" and "testdoor:viewer".
func (d *Door) Users() (owner, stranger, viewer string) { return "owner", "stranger", "viewer" }

// Command implements chattest.Driver.
func (d *Door) Command(_ testing.TB, user, text, delivery string) {
	d.Type(context.Background(), user, text, delivery, time.Now())
}

// Click implements chattest.Driver.
func (d *Door) Click(_ testing.TB, user string, m chattest.Message, actionID, delivery string) {
	d.Press(context.Background(), user, m.ID, actionID, delivery)
}

// Late implements chattest.Driver: the command was sent a window ago.
func (d *Door) Late(_ testing.TB, user, text, delivery string) {
	d.Type(context.Background(), user, text, delivery, time.Now().Add(-2*AckWindow))
}

// Messages implements chattest.Driver.
func (d *Door) Messages(testing.TB) []chattest.Message { return d.Shown() }

var _ chattest.Driver = (*Door)(nil)
