package webhook

import (
	"bytes"
	"context"

	"github.com/clorebot/clorebot/commands"
)

// onceAtomic runs a request whose command creates a job (rent, cancel) with
// AtomicIntake: its dedup record is written in the job's transaction, with
// the job, the audit row and the answer (commands.Service.HandleOnce), so
// that accepting it costs one write transaction, shared with the other
// requests committed at the same moment. Handling such a command before the
// record exists is safe: deliveries of one id meet in that transaction,
// where the first records its answer and the others get it (a redelivery
// is handled again, and changes nothing). A redelivery that could not be
// handled now (warming up, storage failing) is answered from a read.
func (a *API) onceAtomic(ctx context.Context, rt route, c *call, b Body) answer {
	ids := []string{c.id}
	if c.replayID != "" {
		ids = append(ids, c.replayID)
	}
	hash := requestHash(c.r.Method, c.r.URL.Path, c.body)
	// The request is answered whatever becomes of the caller's connection.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), processTimeout)
	defer cancel()
	now := a.now()
	claim := commands.DedupClaim{Key: c.key, IDs: ids, Hash: hash, At: now, StaleBefore: now.Add(-staleClaim),
		FromContent: c.idHeader == sigHeaderLegacySignature, // a compatibility write without timestamp or Idempotency-Key
		Answer: func(r commands.Reply) (int, []byte) {
			ans := a.replyAnswer(pctx, rt, r.Public(), b.Notes)
			return ans.status, ans.body
		}}
	reply, res := a.svc.HandleOnce(pctx, a.request(c, b), claim)
	var ans answer
	switch res.State {
	case commands.DedupRecorded:
		ans = answer{status: res.Status, body: res.Answer, jobID: reply.JobID}
		a.answerCallback(pctx, rt, c, b, ans)
	case commands.DedupReplayed:
		ans = answer{status: res.Status, body: res.Answer, replayed: true}
	case commands.DedupReused:
		ans = idReusedAnswer(c)
	case commands.DedupInFlight:
		ans = stillProcessingAnswer(c)
	default: // nothing recorded: a failure that is not the request's fault
		if prev, ok := a.lookup(pctx, c, ids, hash); ok {
			return prev
		}
		ans = a.replyAnswer(pctx, rt, reply.Public(), b.Notes)
	}
	return ans
}

// lookup answers a redelivery of a recorded id from a read: the first
// answer, or 422 when the id came with another request. It reports false
// when the ids are new (or still being processed, or the read failed).
func (a *API) lookup(ctx context.Context, c *call, ids []string, hash []byte) (answer, bool) {
	for _, id := range ids {
		found, h, status, body, err := a.dedup.LookupWebhook(ctx, c.key, id)
		switch {
		case err != nil || !found:
			continue
		case !bytes.Equal(h, hash):
			return idReusedAnswer(c), true
		case status != 0:
			return answer{status: status, body: body, replayed: true}, true
		}
	}
	return answer{}, false
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
