// placeholder: the libssh2 transport lands here (issue 4)
