"""Text: tokenizers and the splitting of a document into pieces that fit a leaf."""
