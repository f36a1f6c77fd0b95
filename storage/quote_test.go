package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// quotedUnit is unit with its rent quoted q, whose Finish writes nothing
// for a taken quote (the command layer submits the request again).
func quotedUnit(id string, q commands.QuoteCheck) commands.IntakeUnit {
	u := unit(id, &commands.Guard{Quote: &q})
	finish := u.Finish
	u.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		var taken *commands.QuoteTaken
		if errors.As(o.Refused, &taken) {
			return commands.IntakeWrites{}
		}
		return finish(o)
	}
	return u
}

// A quote that a rent committed since has spoken for refuses the unit with
// a QuoteTaken that says which candidates are spoken for, and nothing of
// the unit is written (its message id stays free for the retry); quoted a
// free server, or unchecked, the unit is stored and its quote speaks for
// its server.
func TestIntakeQuoteTakenWritesNothing(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	q := commands.QuoteCheck{TakenSince: epoch, Quoted: 7, Candidates: []int64{7, 8}}
	if res, err := s.Intake(ctx, quotedUnit("msg_1", q)); err != nil || !res.Created {
		t.Fatalf("first = %+v, %v", res, err)
	}
	wantCounts(t, s, 1, 1, 1, 1)

	res, err := s.Intake(ctx, quotedUnit("msg_2", q))
	var taken *commands.QuoteTaken
	if err != nil || res.Created || !errors.As(res.Refused, &taken) || res.Dedup.State != commands.DedupNone {
		t.Fatalf("second = %+v, %v", res, err)
	}
	if taken.Server != 7 || !taken.Spoken[7] || taken.Spoken[8] {
		t.Errorf("QuoteTaken = %+v, want server 7 spoken for and 8 free", taken)
	}
	wantCounts(t, s, 1, 1, 1, 1)

	next := q
	next.Quoted = 8
	if res, err := s.Intake(ctx, quotedUnit("msg_2", next)); err != nil || !res.Created || res.Dedup.State != commands.DedupRecorded {
		t.Fatalf("second quoted again = %+v, %v", res, err)
	}
	wantCounts(t, s, 2, 2, 2, 2)
	spoken, err := s.SpokenServers(ctx, []int64{7, 8}, epoch)
	if err != nil || !spoken[7] || !spoken[8] {
		t.Fatalf("SpokenServers = %v, %v; want both quoted", spoken, err)
	}

	last := q
	last.Unchecked = true
	if res, err := s.Intake(ctx, quotedUnit("msg_3", last)); err != nil || !res.Created {
		t.Fatalf("unchecked = %+v, %v", res, err)
	}
	wantCounts(t, s, 3, 3, 3, 3)
}

// In a batch, a unit whose quote was taken writes nothing and the units
// around it commit.
func TestIntakeBatchQuoteTakenWritesNothing(t *testing.T) {
	s, _ := newStore(t)
	q := commands.QuoteCheck{TakenSince: epoch, Quoted: 7, Candidates: []int64{7}}
	if res, err := s.Intake(context.Background(), quotedUnit("msg_1", q)); err != nil || !res.Created {
		t.Fatalf("first = %+v, %v", res, err)
	}
	batch := commitBatch(s, plainUnit("msg_2"), quotedUnit("msg_3", q), plainUnit("msg_4"))
	var taken *commands.QuoteTaken
	if c := batch[1]; c.err != nil || c.res.Created || !errors.As(c.res.Refused, &taken) || c.res.Dedup.State != commands.DedupNone {
		t.Fatalf("taken unit = %+v, %v", c.res, c.err)
	}
	for _, i := range []int{0, 2} {
		if c := batch[i]; c.err != nil || !c.res.Created {
			t.Errorf("unit %d = %+v, %v", i, c.res, c.err)
		}
	}
	wantCounts(t, s, 3, 3, 3, 1)
}

// A refused quote names its own server as spoken for even when it is not
// among the candidates the rent sent: a quote made again never lands on it.
func TestIntakeQuoteTakenNamesItsOwnServer(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if res, err := s.Intake(ctx, quotedUnit("msg_1", commands.QuoteCheck{TakenSince: epoch, Quoted: 7, Candidates: []int64{7}})); err != nil || !res.Created {
		t.Fatalf("first = %+v, %v", res, err)
	}
	res, err := s.Intake(ctx, quotedUnit("msg_2", commands.QuoteCheck{TakenSince: epoch, Quoted: 7, Candidates: []int64{8, 9}}))
	var taken *commands.QuoteTaken
	if err != nil || res.Created || !errors.As(res.Refused, &taken) {
		t.Fatalf("second = %+v, %v", res, err)
	}
	if !taken.Spoken[7] || taken.Spoken[8] || taken.Spoken[9] {
		t.Errorf("QuoteTaken = %+v, want its own server 7 spoken for, 8 and 9 free", taken)
	}
}
