// Package slackbot is the Slack front door: /clore slash commands and button
// clicks over Socket Mode (slack-go's socketmode client) or, for workspaces
// that cannot use it, signed HTTP requests (POST /slack/commands and
// /slack/interactivity); Block Kit rendering of commands.Reply; a job's
// progress as one public message updated in place; connection details only
// to the requester; and the Slack sink, which posts lifecycle events in the
// thread of the order's message.
//
// It imports commands, bot/chat and slack-go only. What is not Slack's own
// (requests, acknowledgement budget, progress following) lives in bot/chat.
package slackbot
