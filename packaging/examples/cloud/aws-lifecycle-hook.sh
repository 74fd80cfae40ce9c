#!/bin/sh
# Example: the Auto Scaling side of 60-aws-lifecycle.toml. Run once per group, with the AWS CLI
# and rights on the group:
#   sh aws-lifecycle-hook.sh dcos-private-agents
set -eu
group=${1:?usage: $0 AUTO_SCALING_GROUP}

# Terminating instances wait in Terminating:Wait until mesos-maint completes the action, or
# until the heartbeat timeout passes without a heartbeat (then the default result applies).
aws autoscaling put-lifecycle-hook \
    --auto-scaling-group-name "$group" \
    --lifecycle-hook-name mesos-agent-drain \
    --lifecycle-transition autoscaling:EC2_INSTANCE_TERMINATING \
    --heartbeat-timeout 600 \
    --default-result CONTINUE

# IMDSv2 only; a hop limit of 1 is enough for a daemon on the host (not in a container).
echo "launch templates of $group: set MetadataOptions HttpTokens=required, HttpPutResponseHopLimit=1"
