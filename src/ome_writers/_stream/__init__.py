"""The stream: appends, the live view, the loss window, exit handling."""
