"""`teampulse digest`: the weekly digest for leaders of one scope (organisation, division or
department), from published figures only, as an HTML e-mail or a Teams or Slack message."""
