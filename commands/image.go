package commands

// Image is a picture that travels with a Reply (a spend or price chart).
// Chat doors upload it next to the message (slack-go's file upload,
// discordgo's message files); machine answers leave it out and give the
// data instead.
type Image struct {
	// Name is the file name the platform shows, e.g. "spend.png".
	Name string
	// Alt describes the picture in words, for screen readers and for doors
	// that cannot show images.
	Alt string
	// PNG is the encoded picture.
	PNG []byte
}
