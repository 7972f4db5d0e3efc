"""AWS provisioning with boto3: plan / apply / destroy / outputs for one environment."""
