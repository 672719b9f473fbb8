"""Stage 3, post: the manifest -> index.html, contact-sheet.html and post.md. Renders only."""
