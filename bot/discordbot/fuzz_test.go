package discordbot

import (
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// Whatever a user puts in /clore rent's options, the command text either is
// refused or parses back to a rent of that GPU with only the options given:
// no option can smuggle in a flag.
func FuzzRentOptions(f *testing.F) {
	f.Add("4090", "nvidia/cuda:12", 1.0, 2.0)
	f.Add("4090 --spot", "x --max-price 999", 0.5, 1.0)
	f.Add("a100 80gb", `img" --spot "`, 3.0, 0.0)
	f.Fuzz(func(t *testing.T, gpu, image string, price, hours float64) {
		opts := []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: optGPU, Type: discordgo.ApplicationCommandOptionString, Value: gpu},
			{Name: optImage, Type: discordgo.ApplicationCommandOptionString, Value: image},
			{Name: optMaxPrice, Type: discordgo.ApplicationCommandOptionNumber, Value: price},
			{Name: optHours, Type: discordgo.ApplicationCommandOptionNumber, Value: hours},
		}
		data := discordgo.ApplicationCommandInteractionData{Name: CommandName, Options: []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: "rent", Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}}}
		text, err := commandText(data)
		if err != nil {
			return
		}
		cmd, err := commands.Parse(text)
		if err != nil {
			return // refused by the command layer, with its usage line
		}
		if cmd.Name != "rent" || cmd.Rent.Spot || cmd.Rent.SSHKey != "" || cmd.Rent.Currency != "" || cmd.Rent.MinReliability != nil {
			t.Fatalf("options %q %q %v %v became %q: %+v", gpu, image, price, hours, text, *cmd.Rent)
		}
		if cmd.Rent.Image != image || cmd.Rent.GPU != commands.NormalizeGPU(strings.Join(strings.Fields(gpu), " ")) {
			t.Fatalf("options %q %q became %q: %+v", gpu, image, text, *cmd.Rent)
		}
	})
}
