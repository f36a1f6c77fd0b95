package commands

import (
	"context"
	"fmt"
)

// JobReplyRef is the front door's reference of the message that shows job
// id's progress, as stored with the job ("" when none is stored yet). A
// front door asks before it posts a job's first message, so that a command
// redelivered after a restart — when its memory of the message is gone —
// finds the message instead of posting a second one.
func (s *Service) JobReplyRef(ctx context.Context, id string) (string, error) {
	j, err := s.store.GetJob(ctx, id)
	if err != nil {
		return "", fmt.Errorf("commands: job reply ref: %w", err)
	}
	return j.ReplyRef, nil
}
