<?php echo "hello from centos"; ?>
