print("zk-sim")
