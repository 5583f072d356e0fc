# (tests added by this part go here)
