module gochive.local/cluster/pause

go 1.26.0
