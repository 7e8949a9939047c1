// Placeholder: the metadata client (issue 4) replaces this file.
