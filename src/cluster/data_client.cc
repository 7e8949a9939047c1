// Placeholder: the data-server client (issue 3) replaces this file.
