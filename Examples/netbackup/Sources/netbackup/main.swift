// The netbackup command line tool (work in progress: see issue 6).
print("netbackup: not yet implemented")
