package discordbot

import (
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// /clore spend's options become the text grammar's flags, which the
// command layer parses and checks.
func TestSpendOptionsText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []*discordgo.ApplicationCommandInteractionDataOption
		want string
	}{
		{nil, "spend"},
		{[]*discordgo.ApplicationCommandInteractionDataOption{
			{Name: "since", Type: discordgo.ApplicationCommandOptionString, Value: "7d"},
			{Name: "by", Type: discordgo.ApplicationCommandOptionString, Value: "gpu"},
		}, "spend --since 7d --by gpu"},
	} {
		data := discordgo.ApplicationCommandInteractionData{Name: CommandName, Options: []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: "spend", Type: discordgo.ApplicationCommandOptionSubCommand, Options: tc.opts}}}
		text, err := commandText(data)
		if err != nil || text != tc.want {
			t.Fatalf("commandText = %q, %v; want %q", text, err, tc.want)
		}
		if _, err := commands.Parse(text); err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
	}
}
